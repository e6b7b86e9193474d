import type { Argv } from 'yargs';
import { seed } from '../../seed/index.js';
import { defaultTableNames } from '../../model/entities.js';
import { print } from '../output.js';

interface SeedArgs {
  items: number;
  seed: number;
  out: string;
  format: 'export' | 'dynamodb' | 'kv';
  layout: 'flat' | 's3';
  tablePrefix: string;
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
      .option('table-prefix', { type: 'string', default: 'purposepath-', describe: 'legacy table name prefix' }),
  handler: async (args: SeedArgs) => {
    const result = await seed({
      items: args.items,
      seed: args.seed,
      out: args.out,
      format: args.format,
      layout: args.layout,
      tableNames: defaultTableNames(args.tablePrefix),
    });
    print(JSON.stringify(result, null, 2));
  },
};
