// How every command ends on a problem it can name: one line on stderr and an exit code, never a
// stack trace. Its own module so the command line can report a usage error without loading the
// proxy (cli/main.ts loads serve.ts only when the proxy is started).

/** One line on stderr and the exit code: never a stack trace. */
export function fatal(code: number, message: string): never {
  process.stderr.write(`etag-proxy: ${message}\n`);
  process.exit(code);
}
