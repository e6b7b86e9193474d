import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, withSourceOptions, type ConfigArgs } from '../common-options.js';
import { LEGACY_ENTITIES } from '../../model/entities.js';
import { print } from '../output.js';

interface BackupArgs extends ConfigArgs {
  out: string;
  layout: 'flat' | 's3';
  itemsPerFile?: number;
}

export const backupCommand = {
  command: 'backup',
  describe: 'copy every legacy table of the source into DynamoDB export files (gzip) with a manifest, readable by --source export',
  builder: (yargs: Argv) =>
    withSourceOptions(withConfigOptions(yargs))
      .option('out', { type: 'string', demandOption: true, describe: 'directory to create (or an empty one)' })
      .option('layout', { choices: ['flat', 's3'] as const, default: 'flat' as const, describe: 'flat files, or the Export-to-S3 layout with md5 manifests' })
      .option('items-per-file', { type: 'number', describe: 'items per data file (default: 100000)' })
      .example('$0 backup --source dynamodb --region eu-west-1 --out ./backup-2024-06-01', 'copy the six legacy tables before migrating')
      .example('$0 run --source export --export-dir ./backup-2024-06-01', 'migrate from that backup later'),
  handler: async (args: BackupArgs) => {
    const config = configFromArgs(args);
    const { backupConfiguredSource } = await import('../../pipeline/backup.js');
    const result = await backupConfiguredSource(config, {
      out: args.out,
      layout: args.layout,
      ...(args.itemsPerFile === undefined ? {} : { itemsPerFile: args.itemsPerFile }),
      ...(args.tablePrefix === undefined ? {} : { tablePrefix: args.tablePrefix }),
    });
    const lines = [`backup of the ${result.sourceKind} source written to ${result.out} (manifest.json: item counts, sha256 per file)`];
    for (const entity of LEGACY_ENTITIES) lines.push(`  ${entity.padEnd(12)} ${String(result.items[entity]).padStart(10)} item(s)`);
    lines.push(`read it with: --source export --export-dir ${result.out} (and the same --table-prefix / --table, if any)`);
    print(lines.join('\n'));
  },
};
