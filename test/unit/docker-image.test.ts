// The image build without a Docker engine: .dockerignore keeps the build context small (no
// node_modules, build output, git history, keys) and keeps every path the Dockerfile copies.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ignored = readFileSync('.dockerignore', 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));

/** The sources of every COPY in the Dockerfile that reads the build context (not --from). */
const copied = readFileSync('Dockerfile', 'utf8')
  .split('\n')
  .filter((line) => /^COPY\s/.test(line) && !line.includes('--from'))
  .flatMap((line) => line.trim().split(/\s+/).slice(1, -1));

/** .dockerignore patterns as Docker reads them: a leading path, `*` within one name. */
function isIgnored(path: string): boolean {
  return ignored.some((pattern) => {
    const source = pattern.replace(/\/$/, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
    return new RegExp(`^${source}(/|$)`).test(path);
  });
}

describe('docker build context', () => {
  it('leaves out node_modules, build output, git history, tests and key files', () => {
    for (const path of ['node_modules', 'dist', '.git', 'test', 'ca.pem', 'server.key']) expect(isIgnored(path), path).toBe(true);
  });

  it('keeps every file and folder the Dockerfile copies', () => {
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'src']));
    for (const path of copied) expect(isIgnored(path), `${path} is copied by the Dockerfile`).toBe(false);
  });

  it('runs on a Node line that still gets security releases (Node 20 reached end of life in 2026)', () => {
    const images = readFileSync('Dockerfile', 'utf8').match(/^FROM node:(\d+)/gm) ?? [];
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(Number(image.replace('FROM node:', ''))).toBeGreaterThanOrEqual(22);
  });
});
