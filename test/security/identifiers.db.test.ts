import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { createExportSource } from '../../src/extract/export-source.js';
import { createKvSource } from '../../src/extract/kv-source.js';
import { applyMigrations } from '../../src/load/migrate.js';
import { openPgClient } from '../../src/db/pg-client.js';
import { openPgliteClient } from '../../src/db/pglite-client.js';
import { quoteIdent } from '../../src/db/identifiers.js';
import type { SqlClient } from '../../src/db/sql-client.js';
import { runMigration } from '../../src/pipeline/run.js';
import { defaultTableNames } from '../../src/model/entities.js';
import { adminQuery, databaseUrl } from '../support/database-template.js';
import { createTestDatabase, testServerUrl, usesRealPostgres, type TestDatabase } from '../support/database.js';
import { describeOutcome, runCli } from '../support/child-cli.js';
import { SMALL_FIXTURES, expectedOutcome } from '../support/fixtures.js';
import { targetRows } from '../support/target-rows.js';

const HOSTILE = 'x"; drop table kpi_links; --';
const EXPORT_DIR = path.join(SMALL_FIXTURES, 'export');

async function tablesOf(sql: SqlClient): Promise<string[]> {
  const { rows } = await sql.query<{ t: string }>(
    `select table_schema || '.' || table_name as t from information_schema.tables
      where table_schema not in ('pg_catalog', 'information_schema') order by 1`,
  );
  return rows.map((r) => r.t);
}

describe('SQL identifiers from configuration are validated, or quoted so that they are harmless', () => {
  const databases: TestDatabase[] = [];
  const open = async () => {
    const db = await createTestDatabase();
    databases.push(db);
    return db;
  };
  afterAll(async () => {
    for (const db of databases) await db.drop();
  });

  it('the CLI refuses a hostile --schema, --kv-table, --resume and rejects --run (exit 2), and changes nothing', async () => {
    const db = await open();
    const before = await tablesOf(db.sql);
    // Only a real server is reachable from a child process; with PGlite the refusal comes first anyway.
    const target = usesRealPostgres() ? db.url : 'pglite://memory';
    for (const [args, says] of [
      [['--source', 'export', '--export-dir', EXPORT_DIR, '--schema', HOSTILE], /CONFIG_INVALID: .*\n.*target\.schema: a plain SQL identifier/],
      [['--source', 'kv', '--kv-url', target, '--kv-table', HOSTILE], /CONFIG_INVALID: kv table must be name or schema\.name/],
      [['--source', 'export', '--export-dir', EXPORT_DIR, '--resume', `1; ${HOSTILE}`], /RUN_NOT_FOUND: run 1; .* does not exist/],
    ] as const) {
      const outcome = await runCli(['run', '--database-url', target, ...args]);
      expect(outcome.code, describeOutcome(outcome)).toBe(2);
      expect(outcome.stderr).toMatch(says);
    }
    const rejects = await runCli(['rejects', '--database-url', target, '--run', `1; ${HOSTILE}`]);
    expect(rejects.code, describeOutcome(rejects)).toBe(2);
    expect(rejects.stderr).toMatch(/USAGE: not a run id/);
    expect(await tablesOf(db.sql)).toEqual(before);
  });

  it('a hostile kv table name is refused by the source itself, whoever calls it', async () => {
    const db = await open();
    for (const table of [HOSTILE, 'a.b.c', 'kv_store; select 1', '"kv_store"', '']) {
      expect(() => createKvSource({ sql: db.sql, table }), table).toThrow(MigrateError);
    }
  });

  it('a hostile target schema reaching the load stage is quoted: a whole migration lands in a schema of that very name, nothing else is touched', async () => {
    let sql: SqlClient;
    let drop: () => Promise<void>;
    if (usesRealPostgres()) {
      // An empty database: the template is migrated for "public", which would (rightly) refuse another schema.
      const server = testServerUrl()!;
      const name = `kpi_migrate_hostile_${process.pid}_${Date.now()}`;
      await adminQuery(server, `create database ${quoteIdent(name)}`);
      sql = openPgClient(databaseUrl(server, name));
      drop = async () => {
        await sql.close();
        await adminQuery(server, `drop database if exists ${quoteIdent(name)} with (force)`);
      };
    } else {
      sql = await openPgliteClient();
      drop = () => sql.close();
    }
    try {
      await sql.query('create table public.kpi_links (canary text)');
      await sql.query(`insert into public.kpi_links values ('still here')`);
      await applyMigrations(sql, HOSTILE);
      const result = await runMigration({
        source: createExportSource({ dir: EXPORT_DIR, tableNames: defaultTableNames() }),
        sql,
        targetSchema: HOSTILE,
        environment: 'test',
        batchRows: 500,
        ledgerOptions: {},
        codeVersion: 'test',
        configHash: 'test',
      });
      expect(result.status).toBe('completed');
      const { rows: canary } = await sql.query<{ canary: string }>('select canary from public.kpi_links');
      expect(canary).toEqual([{ canary: 'still here' }]);
      const { rows: schemas } = await sql.query<{ nspname: string }>(`select nspname from pg_namespace where nspname = $1`, [HOSTILE]);
      expect(schemas).toHaveLength(1);
      const rows = await targetRows(sql, quoteIdent(HOSTILE));
      expect(rows.links).toHaveLength(expectedOutcome().kpiLinks);
    } finally {
      await drop();
    }
  });

  it('a database migrated for one target schema refuses another instead of writing into it', async () => {
    const db = await open();
    await expect(
      runMigration({
        source: createExportSource({ dir: EXPORT_DIR, tableNames: defaultTableNames() }),
        sql: db.sql,
        targetSchema: HOSTILE,
        environment: 'test',
        batchRows: 500,
        ledgerOptions: {},
        codeVersion: 'test',
        configHash: 'test',
      }),
    ).rejects.toMatchObject({ code: 'TARGET_SCHEMA' });
    const { rows } = await db.sql.query<{ n: number }>('select count(*)::int as n from pg_namespace where nspname = $1', [HOSTILE]);
    expect(rows[0]!.n).toBe(0);
  });

  it('a hostile tenant filter is data, never SQL: everything is skipped and counted', async () => {
    const db = await open();
    const result = await runMigration({
      source: createExportSource({ dir: EXPORT_DIR, tableNames: defaultTableNames() }),
      sql: db.sql,
      targetSchema: 'public',
      environment: 'test',
      batchRows: 500,
      tenant: `x'; ${HOSTILE}`,
      ledgerOptions: { tenant: `x'; ${HOSTILE}` },
      codeVersion: 'test',
      configHash: 'test',
    });
    const links = result.counts.entities.GoalKpiLink!;
    expect(links.skipped).toBe(links.read);
    expect(await tablesOf(db.sql)).toContain('public.kpi_links');
  });
});
