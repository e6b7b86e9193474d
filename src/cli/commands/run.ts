import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, withSourceOptions, type ConfigArgs } from '../common-options.js';
import { renderRunFinalize, renderRunSummary, renderRunValidation } from '../summary.js';
import { progressDisplayFor } from '../progress-display.js';
import { estimateTotals } from '../progress-totals.js';
import { confirmWrite } from '../confirm.js';
import { print, printError } from '../output.js';
import { EXIT } from '../exit.js';
import { parseSharedRun, parseWorkerShare } from '../worker-option.js';

interface RunArgs extends ConfigArgs {
  resume?: string;
  tenant?: string;
  dryRun?: boolean;
  converge?: boolean;
  yes?: boolean;
  worker?: string;
  run?: string;
  validate: boolean;
  finalize: boolean;
  report?: string;
}

export const runCommand = {
  command: 'run',
  describe: 'migrate the legacy tables into the target (resumable, idempotent), then validate the run and keep its report (exit 1 when a check fails)',
  builder: (yargs: Argv) =>
    withSourceOptions(withConfigOptions(yargs))
      .option('resume', { type: 'string', describe: 'continue a run from its checkpoints: RUN_ID, or empty for the last unfinished run' })
      .option('tenant', { type: 'string', describe: 'migrate only this tenant (others are counted as skipped)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'do the whole run in one transaction, rolled back at its end: prints what the real run would do, leaves the data as it was (still applies pending schema migrations and records the run)' })
      .option('batch-rows', { type: 'number', describe: 'target rows per transaction (default: 5000)' })
      .option('converge', {
        type: 'boolean',
        default: false,
        describe:
          'make the target follow a changed source: besides upserting, remove at the end the rows the tool wrote that the source no longer justifies (kept in the row history for rollback); all tables, or one --tenant',
      })
      .option('max-delete', {
        type: 'string',
        describe: 'with --converge: refuse (exit 2, nothing deleted) when a table would lose more than N rows or P% of the rows the tool wrote there (default 10%; maxDelete in the config, KPI_MIGRATE_MAX_DELETE)',
      })
      .option('validate', {
        type: 'boolean',
        default: true,
        describe: 'end with a validation of the run (counts, rows, the environment’s sample; kpi-migrate validate without --full); --no-validate skips it',
      })
      .option('finalize', {
        type: 'boolean',
        default: true,
        describe: 'before the validation, what kpi-migrate finalize does (foreign key NOT VALID then validated, index CONCURRENTLY, progress cache); --no-finalize skips it',
      })
      .option('report', { type: 'string', describe: 'write the run’s JSON report here (default: .kpi-migrate/reports/run-run-ID-TIME.json)' })
      .option('yes', { type: 'boolean', default: false, describe: 'confirm writing to a protected environment (asked on a terminal otherwise)' })
      .option('worker', {
        type: 'string',
        describe: 'K/N: be worker K of N on one shared run, reading every Nth DynamoDB scan segment (needs --source dynamodb, --segments and --run; see docs/scaling.md)',
      })
      .option('run', {
        type: 'string',
        describe:
          'start or continue the run named LABEL: the first command creates it, the same command after a kill continues it, and once it is completed does nothing (exit 0); ' +
          'with --worker, the run the workers share (a LABEL or a RUN_ID)',
      })
      .implies('worker', 'run')
      .conflicts('worker', 'resume')
      .conflicts('run', 'resume')
      .group(['worker'], 'Several workers on one run:')
      .example('$0 run --source export --export-dir ./export', 'migrate export files into $DATABASE_URL (or the embedded PGlite)')
      .example('$0 run --env prod --source dynamodb --yes', 'migrate from DynamoDB into the protected prod environment')
      .example('$0 run --resume', 'continue the last unfinished run from its checkpoints')
      .example('$0 run --source export --export-dir ./export --run june-cutover', 'start the run labelled june-cutover, or continue it: the same command, restarted blindly')
      .example('$0 run --converge --source export --export-dir ./fresher-backup', 'rehearse again on a fresher backup into the same target: rows gone from the source go from the target')
      .example('$0 run --source dynamodb --segments 32 --worker 3/8 --run june-cutover', 'worker 3 of 8 on the run labelled june-cutover (the same command restarts it)'),
  handler: async (args: RunArgs) => {
    // Parsed here rather than by yargs' coerce, which would turn a USAGE error into an anonymous one.
    const worker = args.worker === undefined ? undefined : parseWorkerShare(args.worker);
    const sharedRun = args.run === undefined ? undefined : parseSharedRun(args.run);
    const config = configFromArgs(args);
    const action = args.dryRun ? 'dry-run (schema migrations and the run ledger only) against' : args.converge ? 'converge (upsert, and delete what the source no longer has) into' : 'migrate into';
    await confirmWrite(config, { yes: args.yes, action });
    const display = progressDisplayFor(process.stderr);
    // A worker reads a share of each table: whole-table totals would make its bars lie. They come
    // while the run starts, as the demo's do: awaited, a DynamoDB source's (the SDK loaded, then
    // DescribeTable) held the run back by about 0.1 s.
    if (worker === undefined) void estimateTotals(config).then((totals) => display.setTotals(totals));
    try {
      const { migrateAndValidate } = await import('../../pipeline/validated-run.js');
      const outcome = await migrateAndValidate(config, {
        resume: args.resume === undefined ? undefined : args.resume === '' ? 'last' : args.resume,
        tenant: args.tenant,
        dryRun: args.dryRun ?? false,
        converge: args.converge === true ? true : undefined,
        worker,
        run: sharedRun,
        progress: display,
        validate: args.validate,
        finalize: args.finalize,
        reportFile: args.report,
        validationProgress: (message) => display.message?.(`validating: ${message}`),
        finalizeProgress: (message) => display.message?.(`finalizing: ${message}`),
      });
      display.finish();
      print([renderRunSummary(outcome.migration, display.timings()), ...renderRunFinalize(outcome), renderRunValidation(outcome)].join('\n\n'));
      printError(
        outcome.reportFile === undefined
          ? `run ${outcome.migration.runId} was already completed: nothing done; its report is kept in kpi_migrate.reports (kpi-migrate report --run ${outcome.migration.runId})`
          : `report written to ${outcome.reportFile} and kept in kpi_migrate.reports (kpi-migrate report --run ${outcome.migration.runId})`,
      );
      process.exitCode = outcome.passed ? EXIT.ok : EXIT.checkFailed;
    } finally {
      display.finish();
    }
  },
};
