import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations, loadMigrations } from '../../src/load/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('schema migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('records every numbered migration once and re-applying is a no-op', async () => {
    const migrations = await loadMigrations('public');
    const { rows } = await db.sql.query<{ version: number }>('select version from kpi_migrate.schema_migrations order by version');
    expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
    expect(await applyMigrations(db.sql)).toEqual([]);
  });

  it('records the target tables as the tool’s, also for a database migrated before that record existed', async () => {
    const owners = async () => (await db.sql.query<{ table_name: string; owner: string }>('select table_name, owner from kpi_migrate.target_tables order by 1')).rows;
    expect(await owners()).toEqual([{ table_name: 'kpi_data', owner: 'tool' }, { table_name: 'kpi_links', owner: 'tool' }]);
    await db.sql.query('delete from kpi_migrate.target_tables');
    expect(await applyMigrations(db.sql)).toEqual([]);
    expect(await owners()).toEqual([{ table_name: 'kpi_data', owner: 'tool' }, { table_name: 'kpi_links', owner: 'tool' }]);
  });

  it('creates the target tables with the foreign key from kpi_data to kpi_links', async () => {
    const { rows } = await db.sql.query<{ conname: string }>(
      `select conname from pg_constraint where contype = 'f' and conrelid = 'public.kpi_data'::regclass`,
    );
    expect(rows).toHaveLength(1);
  });

  it('keeps row history and the count of removed rows in the ledger schema (003)', async () => {
    const { rows } = await db.sql.query<{ table_name: string; column_name: string }>(
      `select table_name, column_name from information_schema.columns
       where table_schema = 'kpi_migrate' and (table_name = 'row_history' or column_name = 'deleted')
       order by table_name, ordinal_position`,
    );
    expect(rows.map((r) => `${r.table_name}.${r.column_name}`)).toEqual([
      'row_history.id', 'row_history.run_id', 'row_history.table_name', 'row_history.row_id',
      'row_history.operation', 'row_history.old_row', 'row_history.recorded_at', 'run_counts.deleted',
    ]);
  });
});
