import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { validateCommand } from './commands/validate.js';
import { reportCommand } from './commands/report.js';
import { rollbackCommand } from './commands/rollback.js';
import { backupCommand } from './commands/backup.js';
import { finalizeCommand } from './commands/finalize.js';
import { runCommand } from './commands/run.js';
import { syncCommand } from './commands/sync.js';
import { schemaCommand } from './commands/schema.js';
import { seedCommand } from './commands/seed.js';
import { rejectsCommand } from './commands/rejects.js';
import { configCommand } from './commands/config.js';
import { demoCommand } from './commands/demo.js';
import { MigrateError } from '../errors.js';
import { packageRoot } from '../package-root.js';

// yargs' ESM build wraps help text in the middle of words; its CommonJS build wraps at spaces.
const yargs = createRequire(import.meta.url)('yargs') as (argv: string[]) => Argv;

/** Every command, in the order `--help` lists them (scripts/readme-usage.ts documents each). */
export const cliCommands = [runCommand, syncCommand, finalizeCommand, validateCommand, reportCommand, rejectsCommand, rollbackCommand, backupCommand, schemaCommand, seedCommand, configCommand, demoCommand] as unknown as CommandModule[];

/** Help is as wide as the terminal (at most 110), and 100 when not a terminal, so the README's copy is stable. */
function helpWidth(): number {
  return process.stdout.isTTY ? Math.min(110, process.stdout.columns ?? 110) : 100;
}

const version = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

export function buildCli(argv: string[]) {
  let cli = yargs(argv)
    .scriptName('kpi-migrate')
    .usage(
      '$0 <command> [options]\n\n' +
        'Migrate the legacy KPI store (DynamoDB, its export files, or a kv_store table) into PostgreSQL, ' +
        'per environment, resumably, and prove it.',
    )
    .epilogue(
      'Configuration: kpi-migrate.config.json (--config), environment --env or KPI_MIGRATE_ENV; flags override the file. ' +
        'Secrets only from the environment: DATABASE_URL, KV_DATABASE_URL, PGPASSWORD, AWS_* and AWS profiles.\n' +
        'Exit codes: 0 done and every check passed, 1 a check failed, 2 usage or configuration error (nothing done), ' +
        '3 runtime failure (fix, then run --resume; a retry can succeed), 4 internal error (a bug: report it; a retry cannot help).',
    )
    .strict()
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .wrap(helpWidth())
    // Usage errors become a MigrateError so main() maps them to exit 2 like config errors.
    .fail((message, error) => {
      if (error) throw error;
      throw new MigrateError('USAGE', `${message}\n(run kpi-migrate --help)`);
    })
    .help()
    .version(version);
  for (const command of cliCommands) cli = cli.command(command);
  return cli;
}
