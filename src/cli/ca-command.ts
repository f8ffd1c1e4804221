// `etag-proxy ca init|export|info`: create the CA that --intercept signs leaf certificates with,
// print its certificate for clients to trust, and describe it. Files and checks live in
// tls/ca.ts; a problem is one line on stderr and exit code 1 (2 for a bad --config).
import type { Argv, CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { CaError, defaultCaDir, describeCa, initCa, readCaCertificate, type CaDescription } from '../tls/ca.js';

interface CaArgs {
  'ca-dir'?: string;
  config?: string;
}
interface InitArgs extends CaArgs {
  force?: boolean;
}

function withDir<T>(y: Argv<T>): Argv<T & CaArgs> {
  return y
    .option('ca-dir', { type: 'string', describe: `CA directory (default: ${defaultCaDir()}; $XDG_CONFIG_HOME is honoured)` })
    .option('config', { type: 'string', describe: 'read caDir from this config file (as the proxy does)' }) as Argv<T & CaArgs>;
}

function caDirOf(args: CaArgs): string {
  if (args['ca-dir']) return args['ca-dir'];
  if (args.config) return loadConfig({ config: args.config }).caDir ?? defaultCaDir();
  return defaultCaDir();
}

async function run(action: () => Promise<string>): Promise<void> {
  try {
    process.stdout.write(await action());
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`etag-proxy: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (!(error instanceof CaError)) throw error;
    process.stderr.write(`etag-proxy ca: ${error.message}\n`);
    process.exitCode = 1;
  }
}

function formatInfo(info: CaDescription): string {
  return [
    `subject:     ${info.subject}`,
    `sha256:      ${info.fingerprint256}`,
    `not before:  ${info.notBefore}`,
    `not after:   ${info.notAfter}`,
    `certificate: ${info.certFile}`,
    '',
  ].join('\n');
}

const init: CommandModule<object, InitArgs> = {
  command: 'init',
  describe: 'create a root CA (key 0600 in a 0700 directory); refuses to replace one without --force',
  builder: (y) => withDir(y).option('force', { type: 'boolean', describe: 'replace an existing CA (clients must trust the new one)' }) as Argv<InitArgs>,
  handler: (args) =>
    run(async () => {
      const dir = caDirOf(args);
      const info = await initCa(dir, { force: args.force ?? false });
      return `${formatInfo(info)}created the CA in ${dir}; clients trust it with: etag-proxy ca export > etag-proxy-ca.pem\n`;
    }),
};

const exportCommand: CommandModule<object, CaArgs> = {
  command: 'export',
  describe: 'print the CA certificate (PEM) for clients to trust; never the key',
  builder: (y) => withDir(y) as Argv<CaArgs>,
  handler: (args) => run(async () => (await readCaCertificate(caDirOf(args))).certPem),
};

const info: CommandModule<object, CaArgs> = {
  command: 'info',
  describe: 'print the CA subject, SHA-256 fingerprint and validity',
  builder: (y) => withDir(y) as Argv<CaArgs>,
  handler: (args) =>
    run(async () => {
      const { certPem, certFile } = await readCaCertificate(caDirOf(args));
      return formatInfo(describeCa(certPem, certFile));
    }),
};

export const caCommand: CommandModule = {
  command: 'ca <command>',
  describe: 'the CA that --intercept signs certificates with: init, export, info',
  builder: (y) => y.command(init).command(exportCommand).command(info).demandCommand(1, 'name a subcommand: init, export or info'),
  handler: () => {},
};
