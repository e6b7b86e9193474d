import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDynamoDbSource } from '../../src/extract/dynamodb-source.js';
import { createKvSource } from '../../src/extract/kv-source.js';
import { databaseRefusalOf } from '../../src/db/database-error.js';
import type { SqlClient, SqlSession } from '../../src/db/sql-client.js';
import { runMigration } from '../../src/pipeline/run.js';
import { loadKvStore } from '../../src/seed/load-kv-store.js';
import { LEGACY_ENTITIES, type TableNames } from '../../src/model/entities.js';
import { adminQuery } from '../support/database-template.js';
import { createTestDatabase, testServerUrl, usesRealPostgres, type TestDatabase } from '../support/database.js';
import { missing } from '../support/prerequisites.js';
import { describeOutcome, runCli } from '../support/child-cli.js';
import { SMALL_FIXTURES } from '../support/fixtures.js';
import { expectBalanced, snapshot } from '../faults/harness.js';
import { guardReadOnly, loadSeededTables, localClient, migrateFromDynamoDb, READ_OPERATIONS } from '../faults/dynamodb-faults.js';

const KV_TABLE = 'legacy_kv_store';

/** Waits (at most 10 s) until the server holds no session of `role`. */
async function sessionsEnded(sql: SqlSession, role: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
    const { rows } = await sql.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where usename = $1', [role]);
    if (rows[0]!.n === 0) return;
  }
}

describe('the tool never writes to its source', () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.drop();
  });

  describe('DynamoDB', () => {
    let tableNames: TableNames;
    beforeAll(async () => {
      ({ tableNames } = await loadSeededTables(inject('dynamoDbEndpoint'), { items: 200, seed: 8 }));
    });

    it('a whole migration, a recount and a sampled read send only Scan, BatchGetItem, DescribeTable (GetItem, Query allowed)', async () => {
      const db = await createTestDatabase();
      databases.push(db);
      const client = localClient(inject('dynamoDbEndpoint'));
      const guard = guardReadOnly(client);
      try {
        const run = await migrateFromDynamoDb(db.sql, client, tableNames);
        expect(run.result.status).toBe('completed');
        expectBalanced((await snapshot(db.sql, run.result.runId)).accounting);
        // Validation's paths too, and the automatic segment count (DescribeTable).
        const source = createDynamoDbSource({ client, tableNames });
        for (const entity of LEGACY_ENTITIES) {
          expect(await source.countItems(entity)).toBe(run.result.counts.entities[entity]!.read);
        }
        const ids = (await db.sql.query<{ source_id: string }>('select source_id from public.kpi_data limit 5')).rows.map((r) => r.source_id);
        expect(await source.getItems('KpiActual', ids)).toBeDefined();
        await source.close();
      } finally {
        client.destroy();
      }
      expect(guard.refused).toEqual([]);
      const seen = [...guard.seen.keys()].sort();
      expect(seen.every((name) => (READ_OPERATIONS as readonly string[]).includes(name)), seen.join(', ')).toBe(true);
      expect(seen).toEqual(expect.arrayContaining(['BatchGetItemCommand', 'DescribeTableCommand', 'ScanCommand']));
    });

    it('the guard itself refuses a write (so the test above would have caught one)', async () => {
      const client = localClient(inject('dynamoDbEndpoint'));
      const guard = guardReadOnly(client);
      const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
      try {
        await expect(client.send(new PutItemCommand({ TableName: tableNames.Kpi, Item: { Id: { S: 'written' } } }))).rejects.toThrow(/must not be written/);
      } finally {
        client.destroy();
      }
      expect(guard.refused).toEqual(['PutItemCommand']);
    });
  });

  describe('kv_store', () => {
    /**
     * Every statement the source sends, and inside every transaction it opens, one write attempt of
     * our own (in a savepoint): it must fail as read-only (SQLSTATE 25006).
     */
    function probingClient(sql: SqlClient): { client: SqlClient; statements: string[]; writeRefusals: string[] } {
      const statements: string[] = [];
      const writeRefusals: string[] = [];
      const recording = (session: SqlSession): SqlSession => ({
        query: (text, params) => {
          statements.push(text);
          return session.query(text, params);
        },
        exec: (script) => {
          statements.push(script);
          return session.exec(script);
        },
        copyFrom: (table, columns, text) => {
          statements.push(`copy ${table}`);
          return session.copyFrom(table, columns, text);
        },
      });
      const client: SqlClient = {
        dialect: sql.dialect,
        ...recording(sql),
        transaction: (work) =>
          sql.transaction(async (session) => {
            const result = await work(recording(session));
            await session.query('savepoint write_probe');
            try {
              await session.query(`insert into ${KV_TABLE} (key, value) values ('written:by-the-tool', '{}')`);
              writeRefusals.push('accepted');
            } catch (error) {
              writeRefusals.push(databaseRefusalOf(error)?.sqlstate ?? String(error));
            }
            await session.query('rollback to savepoint write_probe');
            return result;
          }),
        holdAdvisoryLocks: (locks, applicationName) => sql.holdAdvisoryLocks(locks, applicationName),
        close: () => sql.close(),
      };
      return { client, statements, writeRefusals };
    }

    it('every statement is a SELECT inside a read-only transaction (a write there fails with 25006)', async () => {
      const db = await createTestDatabase();
      databases.push(db);
      await loadKvStore(db.sql, path.join(SMALL_FIXTURES, 'kv', 'kv_store.jsonl'), { table: KV_TABLE });
      const probe = probingClient(db.sql);
      const source = createKvSource({ sql: probe.client, table: KV_TABLE, pageSize: 50 });
      const result = await runMigration({ source, sql: db.sql, targetSchema: 'public', environment: 'test', batchRows: 200, ledgerOptions: {}, codeVersion: 'test', configHash: 'test' });
      expect(result.status).toBe('completed');
      await source.countItems('KpiActual');
      await source.getItems('KpiActual', ['x']);
      expect(probe.writeRefusals.length).toBeGreaterThan(10);
      expect(new Set(probe.writeRefusals)).toEqual(new Set(['25006']));
      const kinds = new Set(probe.statements.map((text) => text.trim().split(/\s+/)[0]!.toLowerCase()));
      expect([...kinds].sort()).toEqual(['select', 'set']);
      expect(probe.statements.filter((t) => t.startsWith('set')).every((t) => /^set transaction read only\b/.test(t))).toBe(true);
      const { rows } = await db.sql.query<{ n: number }>(`select count(*)::int as n from ${KV_TABLE} where key like 'written:%'`);
      expect(rows[0]!.n).toBe(0);
    });

    it.skipIf(missing('postgres-server'))('a role that may only SELECT the kv table is enough to migrate from it (CLI)', async () => {
      const db = await createTestDatabase();
      databases.push(db);
      expect(usesRealPostgres()).toBe(true);
      await loadKvStore(db.sql, path.join(SMALL_FIXTURES, 'kv', 'kv_store.jsonl'), { table: KV_TABLE });
      const role = `kpi_migrate_reader_${randomBytes(4).toString('hex')}`;
      const server = testServerUrl()!;
      await adminQuery(server, `create role ${role} login`);
      try {
        await db.sql.exec(`revoke all on ${KV_TABLE} from public; grant usage on schema public to ${role}; grant select on ${KV_TABLE} to ${role}`);
        const readerUrl = new URL(db.url);
        readerUrl.username = role;
        const outcome = await runCli(['run', '--source', 'kv', '--kv-url', readerUrl.toString(), '--kv-table', KV_TABLE, '--database-url', db.url]);
        expect(outcome.code, describeOutcome(outcome)).toBe(0);
        const { rows } = await db.sql.query<{ n: number }>('select count(*)::int as n from public.kpi_links');
        expect(rows[0]!.n).toBeGreaterThan(0);
        // And the reader really cannot write: the privilege, not good manners, keeps the source intact.
        const { openPgClient } = await import('../../src/db/pg-client.js');
        const reader = openPgClient(readerUrl.toString(), 1);
        try {
          await expect(reader.query(`insert into ${KV_TABLE} (key, value) values ('x', '{}')`)).rejects.toMatchObject({ code: '42501' });
        } finally {
          await reader.close();
        }
      } finally {
        // The reader's sessions (the CLI's, this test's) end on the server a moment after their
        // clients close, and `drop database … with (force)` may not terminate another role's session.
        await sessionsEnded(db.sql, role);
        await db.drop();
        databases.splice(databases.indexOf(db), 1);
        // Its only grants were in the database just dropped.
        await adminQuery(server, `drop role if exists ${role}`);
      }
    });
  });
});
