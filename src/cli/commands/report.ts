import { writeFile } from 'node:fs/promises';
import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, type ConfigArgs } from '../common-options.js';
import { MigrateError } from '../../errors.js';
import { renderReport } from '../../validate/render.js';
import { REPORT_FORMATS, type ReportFormat } from '../../validate/report.js';
import { print, printError } from '../output.js';

interface ReportArgs extends ConfigArgs {
  run?: string;
  kind?: 'run' | 'validate';
  input?: string;
  format: ReportFormat;
  out?: string;
}

export const reportCommand = {
  command: 'report',
  describe: 'render the report of a run or a validation as Markdown, a self-contained HTML page, or JSON',
  builder: (yargs: Argv) =>
    withConfigOptions(yargs)
      .option('run', { type: 'string', describe: 'the run whose latest stored report to render, by RUN_ID or LABEL' })
      .option('kind', { choices: ['run', 'validate'] as const, describe: 'only a report of this kind (default: the latest of either)' })
      .option('input', { type: 'string', describe: 'render this JSON report file instead of a stored report' })
      .option('format', { choices: REPORT_FORMATS, default: 'md' as ReportFormat, describe: 'md, html (one self-contained page) or json' })
      .option('out', { type: 'string', describe: 'write to this file instead of stdout' })
      .check((args) => {
        if (args.run === undefined && args.input === undefined) throw new MigrateError('USAGE', 'name the run (--run ID or LABEL) or a report file (--input FILE)');
        return true;
      })
      .example('$0 report --run 12 --format html --out run-12.html', 'one HTML page with the counts, rejects, checks and charts of run 12'),
  handler: async (args: ReportArgs) => {
    const config = configFromArgs(args);
    const { findReport } = await import('../../validate/validate-configured.js');
    const report = await findReport(config, { runId: args.run, kind: args.kind, file: args.input });
    const text = renderReport(report, args.format);
    if (args.out === undefined) {
      print(text);
      return;
    }
    try {
      await writeFile(args.out, text);
    } catch (error) {
      throw new MigrateError('USAGE', `cannot write ${args.out}: ${(error as Error).message}`, { cause: error });
    }
    printError(`${args.format} report of ${report.runId === null ? 'a target without run' : `run ${report.runId}`} written to ${args.out}`);
  },
};
