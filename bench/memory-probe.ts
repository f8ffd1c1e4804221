// Loaded into the proxy by the soak (`node --import <this file> …`): every 200 ms it writes one
// `memory-probe {json}` line on stderr with process.memoryUsage() (rss, heapUsed, heapTotal,
// external, arrayBuffers), so the soak can say where RSS goes without a debugger attached.
// SIGUSR2 runs a full GC (when node runs with --expose-gc) and writes `memory-probe-gc {json}`:
// what is still live, as opposed to garbage the collector has not reached yet.
const INTERVAL_MS = Number(process.env['MEMORY_PROBE_INTERVAL_MS'] ?? 200);

const timer = setInterval(() => {
  process.stderr.write(`memory-probe ${JSON.stringify(process.memoryUsage())}\n`);
}, INTERVAL_MS);
timer.unref();

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  process.stderr.write(`memory-probe-gc ${JSON.stringify({ ...process.memoryUsage(), collected: !!gc })}\n`);
});
