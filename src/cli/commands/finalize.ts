import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, type ConfigArgs } from '../common-options.js';
import { DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_ORPHAN_LIMIT, describeFinalize } from '../../load/finalize.js';
import { confirmWrite } from '../confirm.js';
import { print, printError } from '../output.js';
import { EXIT } from '../exit.js';
import { MigrateError } from '../../errors.js';

interface FinalizeArgs extends ConfigArgs {
  limit: number;
  lockTimeout: number;
  yes?: boolean;
}

export const finalizeCommand = {
  command: 'finalize',
  describe:
    'after the load: add the foreign key kpi_data → kpi_links NOT VALID and validate it when no row is orphaned, build the (kpi_link_id, post_date) index CONCURRENTLY, and recompute the progress cache (exit 1 while orphans keep the key unvalidated); run does this last unless --no-finalize',
  builder: (yargs: Argv) =>
    withConfigOptions(yargs)
      .option('limit', { type: 'number', default: DEFAULT_ORPHAN_LIMIT, describe: 'orphan rows listed by id, at most (all are counted)' })
      .option('lock-timeout', {
        type: 'number',
        default: DEFAULT_LOCK_TIMEOUT_MS,
        describe: 'milliseconds adding the foreign key may wait for its lock (writes queue behind it while it waits) before giving up, changing nothing',
      })
      .option('yes', { type: 'boolean', default: false, describe: 'confirm writing to a protected environment (asked on a terminal otherwise)' })
      .example('$0 finalize --env prod --yes', 'finalize the prod target; a second run changes nothing and says so'),
  handler: async (args: FinalizeArgs) => {
    if (!Number.isSafeInteger(args.limit) || args.limit < 1) throw new MigrateError('USAGE', `--limit must be a whole number ≥ 1, got ${args.limit}`);
    if (!Number.isSafeInteger(args.lockTimeout) || args.lockTimeout < 1) throw new MigrateError('USAGE', `--lock-timeout must be a whole number of milliseconds ≥ 1, got ${args.lockTimeout}`);
    const config = configFromArgs(args);
    await confirmWrite(config, { yes: args.yes, action: 'finalize (foreign key, index, progress cache)' });
    const { finalizeConfigured } = await import('../../pipeline/finalize.js');
    const outcome = await finalizeConfigured(config, {
      orphanLimit: args.limit,
      lockTimeoutMs: args.lockTimeout,
      progress: (message) => printError(`finalizing: ${message}`),
    });
    print(describeFinalize(outcome).join('\n'));
    process.exitCode = outcome.foreignKey.valid ? EXIT.ok : EXIT.checkFailed;
  },
};
