import type { Argv } from 'yargs';
import { defaultTableNames } from '../../model/entities.js';
import { print } from '../output.js';

interface SeedArgs {
  items: number;
  seed: number;
  out: string;
  format: 'export' | 'dynamodb' | 'kv';
  layout: 'flat' | 's3';
  tablePrefix: string;
  changes?: number;
  windows: 'consecutive' | 'overlapping' | 'gap';
}

export const seedCommand = {
  command: 'seed',
  describe: 'generate a deterministic legacy data set (good and bad records) and its expected outcome',
  builder: (yargs: Argv) =>
    yargs
      .option('items', { type: 'number', default: 1000, describe: 'legacy fact records (milestones + actuals + readings)' })
      .option('seed', { type: 'number', default: 1, describe: 'random seed: the same seed gives the same data' })
      .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
      .option('format', { choices: ['export', 'dynamodb', 'kv'] as const, default: 'export' as const, describe: 'export files, `aws dynamodb scan` dumps, or kv_store JSON lines' })
      .option('layout', { choices: ['flat', 's3'] as const, default: 'flat' as const, describe: '--format export: flat files or the Export-to-S3 layout' })
      .option('table-prefix', { type: 'string', default: 'purposepath-', describe: 'legacy table name prefix' })
      .option('changes', {
        type: 'number',
        describe: '--format export: also write incremental exports taking the data set to a changed state (every kind of change), made with this seed',
      })
      .option('windows', {
        choices: ['consecutive', 'overlapping', 'gap'] as const,
        default: 'consecutive' as const,
        describe: 'with --changes: two consecutive windows, a second one overlapping the first, or one leaving a gap',
      }),
  handler: async (args: SeedArgs) => {
    const { seed } = await import('../../seed/index.js');
    const result = await seed({
      items: args.items,
      seed: args.seed,
      out: args.out,
      format: args.format,
      layout: args.changes === undefined ? args.layout : 's3',
      ...(args.changes === undefined ? {} : { incremental: { changeSeed: args.changes, windows: args.windows } }),
      tableNames: defaultTableNames(args.tablePrefix),
    });
    print(JSON.stringify(result, null, 2));
  },
};
