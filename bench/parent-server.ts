// A third-party parent proxy for `npm run bench`'s parent scenario: apify's proxy-chain on a free
// port of 127.0.0.1, with Basic auth as a paid pool asks. Prints `listening <port>` once ready.
import { Server } from 'proxy-chain';

const server = new Server({
  port: 0,
  host: '127.0.0.1',
  prepareRequestFunction: ({ username, password }) => ({ requestAuthentication: username !== 'bench' || password !== 'bench-pw' }),
});
await server.listen();
process.stdout.write(`listening ${server.port}\n`);
