// PLACEHOLDER — replaced by the policy subcommands.
import type { CommandModule } from 'yargs';

export const policyCommand: CommandModule = {
  command: 'policy',
  describe: 'manage per-client policies through the admin API',
  handler: () => {
    throw new Error('not implemented yet');
  },
};
