import path from 'node:path';
import type { Argv } from 'yargs';
import { LEGACY_ENTITIES } from '../../model/entities.js';
import { progressDisplayFor, type EntityTotals } from '../progress-display.js';
import { estimateTotals } from '../progress-totals.js';
import { renderRunSummary } from '../summary.js';
import { print } from '../output.js';
import { EXIT } from '../exit.js';

const DEFAULT_DEMO_DIR = '.kpi-migrate/demo';

interface DemoArgs {
  workDir: string;
  source: 'auto' | 'dynamodb' | 'export';
}

export const demoCommand = {
  command: 'demo',
  describe: 'the whole job on embedded engines: fixtures → bundled DynamoDB Local → embedded PGlite, validated (what `npm start` runs)',
  builder: (yargs: Argv) =>
    yargs
      .option('work-dir', { type: 'string', default: DEFAULT_DEMO_DIR, describe: 'where the PGlite database (recreated each time) and the reports go' })
      .option('source', {
        choices: ['auto', 'dynamodb', 'export'] as const,
        default: 'auto' as const,
        describe: 'auto: DynamoDB Local (needs Java 17+), or the export files when it cannot start',
      })
      .example('$0 demo', 'run it; prints where the database and the reports are')
      .example('$0 demo --source export', 'without Java: read the fixtures as DynamoDB export files'),
  handler: async (args: DemoArgs) => {
    const [{ runDemo }, { demoValidation }] = await Promise.all([import('../../pipeline/demo.js'), import('../demo-validation.js')]);
    const display = progressDisplayFor(process.stderr);
    try {
      const result = await runDemo({
        workDir: args.workDir,
        source: args.source,
        progress: display,
        say: (line) => display.message?.(line),
        onSourceReady: (config, items) => {
          const loaded: EntityTotals = {};
          for (const entity of LEGACY_ENTITIES) if (items[entity] !== undefined) loaded[entity] = { items: items[entity]!, exact: true };
          if (Object.keys(loaded).length > 0) display.setTotals(loaded);
          else void estimateTotals(config).then((totals) => display.setTotals(totals));
        },
        validation: demoValidation,
      });
      display.finish();
      const relative = (p: string) => {
        const inside = path.relative(process.cwd(), p);
        return inside.startsWith('..') || path.isAbsolute(inside) ? p : inside || '.';
      };
      const lines = [renderRunSummary(result.migration, display.timings()), ''];
      if (result.fallback !== undefined) lines.push(`source: the fixtures as export files, because DynamoDB Local is not available (${result.fallback})`);
      else lines.push('source: the fixtures loaded into the bundled DynamoDB Local, read with a parallel Scan');
      lines.push('', 'against the fixtures’ expected outcome:', ...result.expectation.lines.map((l) => `  ${l}`));
      if (result.validation !== undefined) {
        lines.push('', `validation ${result.validation.passed ? 'passed' : 'FAILED'}:`, ...result.validation.lines.map((l) => `  ${l}`));
        for (const report of result.validation.reports) lines.push(`${report.label} report: ${relative(report.path)}`);
      }
      lines.push(
        '',
        `database: ${relative(result.databaseDir)}  (${result.databaseUrl})`,
        `look around: kpi-migrate rejects --database-url pglite://${relative(result.databaseDir)}`,
        '',
        result.passed ? 'demo passed ✓' : 'demo FAILED',
      );
      print(lines.join('\n'));
      process.exitCode = result.passed ? EXIT.ok : EXIT.checkFailed;
    } finally {
      display.finish();
    }
  },
};
