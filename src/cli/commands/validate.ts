import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, withSourceOptions, type ConfigArgs } from '../common-options.js';
import { renderReport } from '../../validate/render.js';
import { REPORT_FORMATS, type ReportFormat } from '../../validate/report.js';
import { print, printError } from '../output.js';
import { EXIT } from '../exit.js';

interface ValidateArgs extends ConfigArgs {
  run?: string;
  seed?: number;
  full: boolean;
  limit: number;
  report?: string;
  format: ReportFormat;
}

export const validateCommand = {
  command: 'validate',
  describe: 'prove a migration from the source and the target alone: counts, fan-out, rows, samples, orphans, schema (exit 1 when a check fails)',
  builder: (yargs: Argv) =>
    withSourceOptions(withConfigOptions(yargs))
      .option('run', { type: 'string', describe: 'the run whose rejects and tenant filter to account for, by RUN_ID or LABEL (default: the latest completed run)' })
      .option('sample', { type: 'number', describe: 'records re-read by key and compared column by column (default: the environment’s sampleSize, 200)' })
      .option('seed', { type: 'number', describe: 'seed of the sample: the same seed draws the same records (default: random, recorded in the report)' })
      .option('full', { type: 'boolean', default: false, describe: 'compare every column of every row (checksums per bucket of ids), not only ids, links and provenance' })
      .option('limit', { type: 'number', default: 50, describe: 'differences listed per check, at most' })
      .option('report', { type: 'string', describe: 'write the JSON report here (default: .kpi-migrate/reports/validate-run-ID-TIME.json)' })
      .option('format', { choices: REPORT_FORMATS, default: 'md' as ReportFormat, describe: 'what to print on stdout' })
      .example('$0 validate --source export --export-dir ./export', 'validate the latest run against the export files it came from')
      .example('$0 validate --source dynamodb --full --limit 20', 'compare every column of every row, list at most 20 differences per check'),
  handler: async (args: ValidateArgs) => {
    const config = configFromArgs(args);
    const { validateConfigured } = await import('../../validate/validate-configured.js');
    const outcome = await validateConfigured(config, {
      runId: args.run,
      sample: args.sample,
      seed: args.seed,
      full: args.full,
      limit: args.limit,
      reportFile: args.report,
    });
    print(renderReport(outcome.report, args.format));
    printError(`report written to ${outcome.reportFile}${outcome.storedAs === undefined ? '' : ` and kept in kpi_migrate.reports (kpi-migrate report --run ${outcome.report.runId ?? 'ID'})`}`);
    process.exitCode = outcome.report.outcome === 'passed' ? EXIT.ok : EXIT.checkFailed;
  },
};
