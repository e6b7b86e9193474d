import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, type ConfigArgs } from '../common-options.js';
import { openSqlClient } from '../../db/open.js';
import { applyMigrations } from '../../load/migrate.js';
import { confirmWrite } from '../confirm.js';
import { print } from '../output.js';

interface SchemaArgs extends ConfigArgs {
  action: 'apply';
  yes?: boolean;
}

export const schemaCommand = {
  command: 'schema <action>',
  describe: 'manage the target schema (numbered, forward-only SQL migrations)',
  builder: (yargs: Argv) =>
    withConfigOptions(yargs)
      .positional('action', { choices: ['apply'] as const, demandOption: true, describe: 'apply: run pending migrations' })
      .option('yes', { type: 'boolean', default: false, describe: 'confirm changing the schema of a protected environment' }),
  handler: async (args: SchemaArgs) => {
    const config = configFromArgs(args);
    await confirmWrite(config, { yes: args.yes, action: 'apply pending schema migrations to' });
    const sql = await openSqlClient(config.target.databaseUrl);
    try {
      const applied = await applyMigrations(sql, config.target.schema);
      print(applied.length === 0 ? 'schema is up to date' : `applied: ${applied.join(', ')}`);
    } finally {
      await sql.close();
    }
  },
};
