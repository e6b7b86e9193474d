import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MigrateError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { targetFailure } from '../db/database-error.js';
import { quoteIdent } from '../db/identifiers.js';
import { assertApplicationTablesFit, readTargetLayout } from './target-ownership.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /**
   * The statements of `sql` that do not name the target schema: what runs when the target tables
   * are the application's and the migration is one that creates or alters them (the ledger's part).
   */
  ledgerSql: string;
  checksum: string;
}

const MIGRATIONS_DIR = path.join(packageRoot, 'src', 'load', 'migrations');

export async function loadMigrations(targetSchema: string): Promise<Migration[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{3}_.+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => {
      const raw = await readFile(path.join(MIGRATIONS_DIR, file), 'utf8');
      return {
        version: Number(file.slice(0, 3)),
        name: file.replace(/\.sql$/, ''),
        sql: raw.replaceAll('{{target_schema}}', quoteIdent(targetSchema)),
        // The migrations hold no function bodies: a statement ends with `;` at the end of a line.
        ledgerSql: raw.split(/;[ \t]*\n/).filter((statement) => !statement.includes('{{target_schema}}') && /^\s*[a-z]/im.test(statement.replace(/--.*$/gm, ''))).map((statement) => `${statement};\n`).join(''),
        // The checksum covers the file as written, so it does not change with the schema name.
        checksum: createHash('sha256').update(raw).digest('hex'),
      };
    }),
  );
}

/**
 * Applies pending migrations forward-only, each in its own transaction, recorded in
 * kpi_migrate.schema_migrations. An applied file that changed since is refused, not re-run.
 */
export async function applyMigrations(sql: SqlClient, targetSchema = 'public'): Promise<string[]> {
  const migrations = await loadMigrations(targetSchema);
  // The first statement of a run: a target that cannot be reached (refused, TLS demanded but not
  // offered, a CA file missing) is reported as such, not as a fault of the tool.
  await sql
    .transaction(async (tx) => {
      // Two processes starting at once must not both apply: the advisory lock serialises them.
      await tx.query('select pg_advisory_xact_lock(7312001)');
      await tx.query('create schema if not exists kpi_migrate');
      await tx.query(`create table if not exists kpi_migrate.schema_migrations (
      version int primary key, name text not null, checksum text not null,
      target_schema text not null, applied_at timestamptz not null default now())`);
      // Which target tables the tool created and which it found (the application's, contract §6):
      // decided when 002 would create them, so it lives with the migration machinery, not in one.
      await tx.query(`create table if not exists kpi_migrate.target_tables (
      table_name text primary key check (table_name in ('kpi_links', 'kpi_data')),
      owner text not null check (owner in ('tool', 'application')),
      recorded_at timestamptz not null default now())`);
      // A database migrated before this record existed: 002 created its tables.
      await tx.query(`insert into kpi_migrate.target_tables (table_name, owner)
      select t, 'tool' from unnest(array['kpi_links', 'kpi_data']) t
      where exists (select 1 from kpi_migrate.schema_migrations where version = ${CREATES_TARGET_TABLES})
      on conflict (table_name) do nothing`);
    })
    .catch((error: unknown) => {
      throw targetFailure(error, 'preparing the target database');
    });
  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await sql.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock(7312001)');
      const { rows } = await tx.query<{ checksum: string; target_schema: string }>(
        'select checksum, target_schema from kpi_migrate.schema_migrations where version = $1',
        [migration.version],
      );
      const existing = rows[0];
      if (existing) {
        if (existing.checksum !== migration.checksum) {
          throw new MigrateError('TARGET_SCHEMA', `migration ${migration.name} changed after it was applied`);
        }
        if (existing.target_schema !== targetSchema) {
          throw new MigrateError(
            'TARGET_SCHEMA',
            `this database was migrated for target schema ${existing.target_schema}, not ${targetSchema}`,
          );
        }
        return false;
      }
      const found = ALTERS_TARGET_TABLES.includes(migration.version) && (await targetTablesFound(tx, targetSchema, migration));
      // The application's tables are neither created nor altered: only the ledger's part runs.
      const statements = found ? migration.ledgerSql : migration.sql;
      if (statements.trim() !== '') await tx.exec(statements);
      await tx.query(
        'insert into kpi_migrate.schema_migrations (version, name, checksum, target_schema) values ($1, $2, $3, $4)',
        [migration.version, migration.name, migration.checksum, targetSchema],
      );
      return true;
    });
    if (done) applied.push(migration.name);
  }
  await sql.transaction(async (tx) => assertApplicationTablesFit(tx, targetSchema, await readTargetLayout(tx, targetSchema)));
  return applied;
}

/** 002 creates kpi_links and kpi_data; 007 alters them. */
const CREATES_TARGET_TABLES = 2;
const ALTERS_TARGET_TABLES = [CREATES_TARGET_TABLES, 7];

/**
 * Whether the target tables are the application's, deciding it (and recording it in
 * kpi_migrate.target_tables) when `migration` is 002: tables already there when the tool would
 * create them are the application's. Only one of the two there is refused: the foreign key of
 * kpi_data and the tool's fan-out assume both are kept the same way.
 */
async function targetTablesFound(tx: SqlSession, targetSchema: string, migration: Migration): Promise<boolean> {
  if (migration.version === CREATES_TARGET_TABLES) {
    const { rows } = await tx.query<{ table_name: string }>(
      `select t as table_name from unnest(array['kpi_links', 'kpi_data']) t where to_regclass(format('%I.%I', $1::text, t)) is not null`,
      [targetSchema],
    );
    if (rows.length === 1) {
      throw new MigrateError(
        'TARGET_INCOMPATIBLE',
        `schema ${quoteIdent(targetSchema)} holds ${rows[0]!.table_name} but not ${rows[0]!.table_name === 'kpi_links' ? 'kpi_data' : 'kpi_links'}: ` +
          'create both (the application\'s migrations) or neither (the tool creates them); nothing was written',
      );
    }
    const owner = rows.length === 2 ? 'application' : 'tool';
    await tx.query(
      `insert into kpi_migrate.target_tables (table_name, owner) select t, $1 from unnest(array['kpi_links', 'kpi_data']) t
       on conflict (table_name) do update set owner = excluded.owner, recorded_at = now()`,
      [owner],
    );
    return owner === 'application';
  }
  const { rows } = await tx.query<{ owner: string }>(`select owner from kpi_migrate.target_tables where table_name = 'kpi_links'`);
  return rows[0]?.owner === 'application';
}
