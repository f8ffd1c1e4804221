// The connection guard watches each client socket without a 'data' or 'readable' listener: node's
// http server takes its parser off a socket as soon as one is added (every read then goes through
// JS streams), which cost about 9 % more instructions on every request when the guard peeked at
// the first bytes for an HTTP/0.9 line (issue 22's profile).
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observe/log.js';
import { ConnectionGuard } from '../../src/server/connection-guard.js';

describe('connection guard', () => {
  it("adds no 'data' or 'readable' listener to an accepted socket, so node's HTTP parser keeps reading it", () => {
    const guard = new ConnectionGuard({ maxConnections: 10, maxPerClient: 10, headersTimeoutMs: 1000, sendTimeoutMs: 0 }, silentLogger);
    const socket = new Socket();
    try {
      guard.onConnection(socket);
      expect(socket.listenerCount('data')).toBe(0);
      expect(socket.listenerCount('readable')).toBe(0);
    } finally {
      socket.destroy();
      guard.stop();
    }
  });
});
