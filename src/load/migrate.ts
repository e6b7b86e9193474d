import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MigrateError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { SqlClient } from '../db/sql-client.js';
import { targetFailure } from '../db/database-error.js';
import { quoteIdent } from '../db/identifiers.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
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
      await tx.exec(migration.sql);
      await tx.query(
        'insert into kpi_migrate.schema_migrations (version, name, checksum, target_schema) values ($1, $2, $3, $4)',
        [migration.version, migration.name, migration.checksum, targetSchema],
      );
      return true;
    });
    if (done) applied.push(migration.name);
  }
  return applied;
}
