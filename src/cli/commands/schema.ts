import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, type ConfigArgs } from '../common-options.js';
import { openSqlClient } from '../../load/open.js';
import { applyMigrations } from '../../load/migrate.js';
import { print } from '../output.js';

export const schemaCommand = {
  command: 'schema <action>',
  describe: 'manage the target schema (numbered, forward-only SQL migrations)',
  builder: (yargs: Argv) =>
    withConfigOptions(yargs).positional('action', { choices: ['apply'] as const, demandOption: true, describe: 'apply: run pending migrations' }),
  handler: async (args: ConfigArgs) => {
    const config = configFromArgs(args);
    const sql = await openSqlClient(config.target.databaseUrl);
    try {
      const applied = await applyMigrations(sql, config.target.schema);
      print(applied.length === 0 ? 'schema is up to date' : `applied: ${applied.join(', ')}`);
    } finally {
      await sql.close();
    }
  },
};
