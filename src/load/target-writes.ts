import type { SqlSession } from '../db/sql-client.js';
import { MigrateError } from '../errors.js';
import { KPI_DATA_TABLE, KPI_LINKS_TABLE, type TargetTable } from './target-table.js';

/**
 * Takes the next generation of a target table's writes (kpi_migrate.target_writes) for the
 * transaction, and returns it: every transaction of the tool that inserts or updates rows there
 * takes one before its first write, so a session of a run can tell whether anyone else of the
 * tool has written there since its last batch (TableWrites.begin). The row stays locked until the
 * transaction ends: the writers of one table follow each other, as a run's batches into one table
 * already do under the table's advisory lock.
 */
export async function takeWriteGeneration(session: SqlSession, table: TargetTable): Promise<bigint> {
  const { rows } = await session.query<{ generation: string }>(
    'update kpi_migrate.target_writes set generation = generation + 1 where table_name = $1 returning generation::text as generation',
    [table.name],
  );
  const generation = rows[0]?.generation;
  // Migration 013 inserts both tables' rows: a database without them was not migrated.
  if (generation === undefined) throw new MigrateError('TARGET_SCHEMA', `kpi_migrate.target_writes has no row for ${table.name}: the database is not migrated`);
  return BigInt(generation);
}

/**
 * A generation of each target table, kpi_links's first, for a transaction that may write either
 * (a sync, a rollback). Always in that order and before any row is touched: a writer then never
 * waits for a generation while it holds a row, or one table's generation, that another writer
 * waits for.
 */
export async function takeWriteGenerations(session: SqlSession): Promise<void> {
  for (const table of [KPI_LINKS_TABLE, KPI_DATA_TABLE]) await takeWriteGeneration(session, table);
}
