import yargs, { type CommandModule } from 'yargs';
import { runCommand } from './commands/run.js';
import { schemaCommand } from './commands/schema.js';
import { seedCommand } from './commands/seed.js';
import { rejectsCommand } from './commands/rejects.js';
import { MigrateError } from '../errors.js';

const commands = [runCommand, schemaCommand, seedCommand, rejectsCommand] as unknown as CommandModule[];

export function buildCli(argv: string[]) {
  let cli = yargs(argv)
    .scriptName('kpi-migrate')
    .usage('$0 <command> [options]\n\nMigrate the legacy KPI store (DynamoDB, its export files, or a kv_store table) into PostgreSQL.')
    .strict()
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    // Usage errors become a MigrateError so main() maps them to exit 2 like config errors.
    .fail((message, error) => {
      if (error) throw error;
      throw new MigrateError('USAGE', `${message}\n(run kpi-migrate --help)`);
    })
    .help()
    .version();
  for (const command of commands) cli = cli.command(command);
  return cli;
}
