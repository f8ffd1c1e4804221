// OriginResponse.peekHead: the first bytes are seen before the pipeline reads, and the sink
// still gets the whole body, byte for byte; the source keeps flowing until the peek has its
// bytes, then is paused as before while nobody reads.
import { describe, expect, it } from 'vitest';
import { OriginResponse } from '../../src/http/origin-response.js';

function response(): { res: OriginResponse; resumes: () => number } {
  let resumes = 0;
  const res = new OriginResponse(200, 'OK', [], {}, { resume: () => void resumes++, abort: () => {} });
  return { res, resumes: () => resumes };
}

function collect(res: OriginResponse): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.pipeInto({ write: (chunk) => (chunks.push(chunk), true), end: () => resolve(Buffer.concat(chunks)), fail: reject });
  });
}

describe('OriginResponse.peekHead', () => {
  it('waits for the first bytes across chunks, then hands the whole body on unchanged', async () => {
    const { res, resumes } = response();
    const chunks = Array.from({ length: 10 }, (_, i) => Buffer.alloc(100, i));
    let head: Buffer | undefined;
    res.peekHead(450, (bytes) => (head = bytes));
    const accepted = chunks.slice(0, 5).map((chunk) => res.push(chunk));
    // Five chunks reach 500 bytes: the peek is done, and the hold (four chunks) pauses the source.
    expect(accepted).toEqual([true, true, true, true, false]);
    expect(head).toEqual(Buffer.concat(chunks).subarray(0, 450));
    const body = collect(res);
    expect(resumes()).toBe(1);
    for (const chunk of chunks.slice(5)) res.push(chunk);
    res.finish();
    expect(Buffer.compare(await body, Buffer.concat(chunks))).toBe(0);
  });

  it('a body shorter than the peek is peeked whole at its end; a source already paused is resumed', () => {
    const { res, resumes } = response();
    for (let i = 0; i < 4; i++) res.push(Buffer.from('ab'));
    let head: Buffer | undefined;
    res.peekHead(4096, (bytes) => (head = bytes));
    expect(resumes()).toBe(1);
    expect(head).toBeUndefined();
    expect(res.push(Buffer.from('c'))).toBe(true);
    res.finish();
    expect(head?.toString()).toBe('ababababc');
  });

  it('the returned stop function gives what arrived so far (the deadline)', () => {
    const { res } = response();
    let head: Buffer | undefined;
    const stop = res.peekHead(4096, (bytes) => (head = bytes));
    res.push(Buffer.from('partial'));
    stop();
    expect(head?.toString()).toBe('partial');
  });
});
