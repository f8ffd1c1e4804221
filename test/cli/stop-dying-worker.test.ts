// Stopping workers when one is already dying must not crash the primary: before every send over
// the cluster channel took a callback, the write's EPIPE became an unhandled 'error' event and
// the primary printed a stack trace (seen in CI when both workers failed to listen).
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('stopWorkers with a worker that is dying', () => {
  it('resolves, with no unhandled EPIPE', async () => {
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(process.execPath, ['test/fixtures/stop-dying-worker.mjs'], { timeout: 15_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });
    expect(out).toContain('connected: true');
    expect(out).not.toContain('EPIPE');
    expect(out).toContain('stopped');
    expect(code).toBe(0);
  });
});
