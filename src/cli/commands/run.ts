import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, withSourceOptions, type ConfigArgs } from '../common-options.js';
import { migrate } from '../../pipeline/migrate.js';
import { renderRunSummary } from '../summary.js';
import { progressSinkFor } from '../progress-display.js';
import { print } from '../output.js';
import { EXIT } from '../exit.js';

interface RunArgs extends ConfigArgs {
  resume?: string;
  tenant?: string;
  dryRun?: boolean;
  yes?: boolean;
}

export const runCommand = {
  command: 'run',
  describe: 'migrate the legacy tables into the target (resumable, idempotent)',
  builder: (yargs: Argv) =>
    withSourceOptions(withConfigOptions(yargs))
      .option('resume', { type: 'string', describe: 'continue a run from its checkpoints: RUN_ID, or empty for the last unfinished run' })
      .option('tenant', { type: 'string', describe: 'migrate only this tenant (others are counted as skipped)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'read, transform and count everything; write no data' })
      .option('batch-rows', { type: 'number', describe: 'target rows per transaction (default: 20000)' })
      .option('yes', { type: 'boolean', default: false, describe: 'confirm writing to a protected environment' }),
  handler: async (args: RunArgs) => {
    const config = configFromArgs(args);
    const result = await migrate(config, {
      resume: args.resume === undefined ? undefined : args.resume === '' ? 'last' : args.resume,
      tenant: args.tenant,
      dryRun: args.dryRun ?? false,
      progress: progressSinkFor(process.stderr),
    });
    print(renderRunSummary(result));
    process.exitCode = result.accountingBalanced ? EXIT.ok : EXIT.checkFailed;
  },
};
