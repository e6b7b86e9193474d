import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, withSourceOptions, type ConfigArgs } from '../common-options.js';
import { migrate } from '../../pipeline/migrate.js';
import { renderRunSummary } from '../summary.js';
import { progressDisplayFor } from '../progress-display.js';
import { estimateTotals } from '../progress-totals.js';
import { confirmWrite } from '../confirm.js';
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
      .option('dry-run', { type: 'boolean', default: false, describe: 'read, transform and count everything; write no data (still applies pending schema migrations and records the run)' })
      .option('batch-rows', { type: 'number', describe: 'target rows per transaction (default: 20000)' })
      .option('yes', { type: 'boolean', default: false, describe: 'confirm writing to a protected environment (asked on a terminal otherwise)' })
      .example('$0 run --source export --export-dir ./export', 'migrate export files into $DATABASE_URL (or the embedded PGlite)')
      .example('$0 run --env prod --source dynamodb --yes', 'migrate from DynamoDB into the protected prod environment')
      .example('$0 run --resume', 'continue the last unfinished run from its checkpoints'),
  handler: async (args: RunArgs) => {
    const config = configFromArgs(args);
    await confirmWrite(config, { yes: args.yes, action: args.dryRun ? 'dry-run (schema migrations and the run ledger only) against' : 'migrate into' });
    const display = progressDisplayFor(process.stderr);
    display.setTotals(await estimateTotals(config));
    try {
      const result = await migrate(config, {
        resume: args.resume === undefined ? undefined : args.resume === '' ? 'last' : args.resume,
        tenant: args.tenant,
        dryRun: args.dryRun ?? false,
        progress: display,
      });
      display.finish();
      print(renderRunSummary(result, display.timings()));
      process.exitCode = result.accountingBalanced ? EXIT.ok : EXIT.checkFailed;
    } finally {
      display.finish();
    }
  },
};
