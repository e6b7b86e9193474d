import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { createExportSource } from '../../src/extract/export-source.js';
import { createKvSource } from '../../src/extract/kv-source.js';
import type { LegacySource } from '../../src/model/source.js';
import { runMigration, type RunResult } from '../../src/pipeline/run.js';
import { defaultTableNames, LEGACY_ENTITIES, type LegacyEntity } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { accountingOf, expectBalanced, runStatus, temporaryDirectory } from './harness.js';
import { corruptCases, exportLine, loadedCases, lookups, milestone, milestoneId, rejectedCases, KPI, TENANT, USER } from './bad-input-corpus.js';

const TABLES = defaultTableNames();

/** Export files of the six tables as `<table>.jsonl` line files. */
async function writeTables(dir: string, lines: Partial<Record<LegacyEntity, (string | Buffer)[]>>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const entity of LEGACY_ENTITIES) {
    const content = (lines[entity] ?? []).map((line) => (typeof line === 'string' ? Buffer.from(line) : line));
    await writeFile(path.join(dir, `${TABLES[entity]}.jsonl`), Buffer.concat(content.flatMap((line) => [line, Buffer.from('\n')])));
  }
}

function migrate(db: TestDatabase, source: LegacySource): Promise<RunResult> {
  return runMigration({ source, sql: db.sql, targetSchema: 'public', environment: 'test', batchRows: 100, ledgerOptions: {}, codeVersion: 'test', configHash: 'test' });
}

async function rejectKeysOf(db: TestDatabase, runId: string, entity: LegacyEntity): Promise<string[]> {
  const { rows } = await db.sql.query<{ source_id: string | null; reason: string; attribute: string | null }>(
    'select source_id, reason, attribute from kpi_migrate.rejects where run_id = $1::bigint and source_entity = $2',
    [runId, entity],
  );
  return rows.map((r) => rejectKey(r.source_id, r.reason, r.attribute ?? undefined)).sort();
}

function rejectKey(sourceId: string | null, reason: string, attribute: string | undefined): string {
  const id = sourceId === null ? '∅' : sourceId.length > 100 ? `<${sourceId.length} characters: ${sourceId.slice(0, 3)}…${sourceId.slice(-3)}>` : sourceId;
  return `${id} ${reason} ${attribute ?? '∅'}`;
}

/** source_id as kpi_migrate.rejects keeps it: an absurdly long one is cut (it is indexed). */
function storedSourceId(sourceId: string | null): string | null {
  return sourceId !== null && sourceId.length > 256 ? `${sourceId.slice(0, 256)}…` : sourceId;
}

describe('a corpus of malformed legacy items: each one loaded, rejected with a reason, or refused naming file and line', () => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof temporaryDirectory>>;

  beforeAll(async () => {
    db = await createTestDatabase();
    work = await temporaryDirectory('bad-input');
  });

  afterAll(async () => {
    await db?.drop();
    await work?.remove();
  });

  it('export files: odd but valid items load intact, malformed ones are rejects with a reason, and every table balances', async () => {
    const loaded = loadedCases();
    const rejected = rejectedCases();
    const dir = path.join(work.dir, 'corpus');
    // Interleaved, so that good and bad records share batches.
    const milestoneLines: string[] = [];
    for (let i = 0; i < Math.max(loaded.length, rejected.length); i++) {
      if (rejected[i]) milestoneLines.push(rejected[i]!.line);
      if (loaded[i]) milestoneLines.push(loaded[i]!.line);
    }
    await writeTables(dir, { ...lookups, KpiMilestone: milestoneLines });
    const result = await migrate(db, createExportSource({ dir, tableNames: TABLES }));

    expect(result.status).toBe('completed');
    const accounting = await accountingOf(db.sql, result.runId);
    expectBalanced(accounting);
    expect(accounting.Kpi).toMatchObject({ read: 2, migrated: 1, rejected: 1 });
    expect(accounting.Person).toMatchObject({ read: 2, migrated: 1, rejected: 1 });
    expect(accounting.GoalKpiLink).toMatchObject({ read: 2, migrated: 1, rejected: 1 });
    expect(accounting.KpiMilestone).toMatchObject({ read: milestoneLines.length, migrated: loaded.length, rejected: rejected.length, skipped: 0 });

    for (const loadedCase of loaded) {
      const { rows } = await db.sql.query<{ v: string | null }>(
        `select (${loadedCase.check.expression})::text as v from public.kpi_data where source_id = $1`,
        [loadedCase.id, ...(loadedCase.check.params ?? [])],
      );
      expect(rows.map((r) => r.v), loadedCase.name).toEqual([loadedCase.check.equals]);
    }
    expect(await rejectKeysOf(db, result.runId, 'KpiMilestone')).toEqual(rejected.map((c) => rejectKey(storedSourceId(c.sourceId), c.reason, c.attribute)).sort());
    // The raw item is kept with its reject, whatever its size.
    const { rows: kept } = await db.sql.query<{ n: string }>(
      `select count(*)::text as n from kpi_migrate.rejects where run_id = $1::bigint and source_entity = 'KpiMilestone' and item is not null and item <> '{}'::jsonb`,
      [result.runId],
    );
    expect(Number(kept[0]!.n)).toBe(rejected.length - 1);
    const { rows: proto } = await db.sql.query<{ v: string }>(
      `select item ->> '__proto__' as v from kpi_migrate.rejects where run_id = $1::bigint and item ? '__proto__'`,
      [result.runId],
    );
    expect(proto).toEqual([{ v: 'kept' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  for (const corrupt of corruptCases()) {
    it(`export files: ${corrupt.name} → SOURCE_CORRUPT naming the file and line 3; what was committed balances`, async () => {
      const dir = path.join(work.dir, `corrupt-${corrupt.name.replace(/\W+/g, '-')}`);
      const good = [milestoneId(), milestoneId(), milestoneId()].map((id) => exportLine(milestone(id)));
      await writeTables(dir, { ...lookups, KpiMilestone: [good[0]!, good[1]!, corrupt.line, good[2]!] });
      const failure = await migrate(db, createExportSource({ dir, tableNames: TABLES })).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(MigrateError);
      const error = failure as MigrateError;
      expect(error.code).toBe('SOURCE_CORRUPT');
      expect(error.message).toContain(`${TABLES.KpiMilestone}.jsonl`);
      expect(error.message).toMatch(/line 3\b/);
      expect(error.message).toMatch(corrupt.says);
      expect(error.details.line).toBe(3);
      const { rows } = await db.sql.query<{ id: string }>(`select id::text as id from kpi_migrate.runs order by id desc limit 1`);
      const runId = rows[0]!.id;
      expect(await runStatus(db.sql, runId)).toBe('failed');
      const accounting = await accountingOf(db.sql, runId);
      for (const entity of ['GoalKpiLink', 'KpiMilestone'] as const) {
        const c = accounting[entity];
        if (c) expect(c.read, entity).toBe(c.migrated + c.rejected + c.skipped);
      }
      await expectRowsMatchCommittedCountsOfRun(db, runId);
    });
  }

  it('kv_store: __proto__ and odd values survive, non-object values refuse the run naming the key', async () => {
    await db.sql.exec(`create table bad_kv (key text primary key, value jsonb)`);
    const put = (key: string, json: string) => db.sql.query('insert into bad_kv (key, value) values ($1, $2::jsonb)', [key, json]);
    await put('kpi:' + KPI, JSON.stringify({ Id: KPI, TenantId: TENANT, Name: 'Revenue', OwnerId: USER }));
    await put('goal_kpi_link:e0000000-0000-4000-8000-000000000001', JSON.stringify({ Id: 'e0000000-0000-4000-8000-000000000001', TenantId: TENANT, GoalId: KPI, KpiId: KPI, CreatedBy: USER, CreatedAt: '2024-01-01' }));
    const base = `"TenantId":"${TENANT}","KpiId":"${KPI}","MilestoneDate":"2024-06-30","CreatedBy":"${USER}","CreatedAt":"2024-01-02"`;
    const proto = milestoneId();
    const exact = milestoneId();
    const noId = milestoneId();
    const numericId = milestoneId();
    await put(`kpi_milestone:${proto}`, `{"Id":"${proto}",${base},"TargetValue":1,"__proto__":{"polluted":true},"constructor":"c"}`);
    await put(`kpi_milestone:${exact}`, `{"Id":"${exact}",${base},"TargetValue":12345678901234567890.123456789012345678,"Big":1e400,"Tiny":-1.0E-400}`);
    await put(`kpi_milestone:${noId}`, `{${base},"TargetValue":"2.50"}`);
    await put(`kpi_milestone:${numericId}`, `{"Id":5,${base},"TargetValue":3}`);

    const result = await migrate(db, createKvSource({ sql: db.sql, table: 'bad_kv' }));
    expect(result.status).toBe('completed');
    const accounting = await accountingOf(db.sql, result.runId);
    expectBalanced(accounting);
    expect(accounting.KpiMilestone).toMatchObject({ read: 4, migrated: 3, rejected: 1 });
    const extra = async (id: string) =>
      (await db.sql.query<{ v: string }>(`select legacy_extra::text as v from public.kpi_data where source_id = $1`, [id])).rows.map((r) => r.v);
    expect(await extra(proto)).toEqual(['{"__proto__": {"polluted": true}, "constructor": "c"}']);
    const { rows: exactRows } = await db.sql.query<{ v: string; big: string; tiny: string }>(
      `select post_value::text as v, legacy_extra ->> 'Big' as big, legacy_extra ->> 'Tiny' as tiny from public.kpi_data where source_id = $1`,
      [exact],
    );
    // Digit for digit, never through a JS float; legacy_extra writes numbers canonically (1.0E-400 → 0.…01).
    expect(exactRows).toEqual([{ v: '12345678901234567890.123456789012345678', big: `1${'0'.repeat(400)}`, tiny: `-0.${'0'.repeat(399)}1` }]);
    expect((await db.sql.query(`select 1 from public.kpi_data where source_id = $1`, [noId])).rows).toHaveLength(1);
    expect(await rejectKeysOf(db, result.runId, 'KpiMilestone')).toEqual([rejectKey(null, 'invalid_value', 'Id')]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    await put('kpi_milestone:ffffffff-0000-4000-8000-000000000000', '[1, 2, 3]');
    const failure = await migrate(db, createKvSource({ sql: db.sql, table: 'bad_kv' })).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(MigrateError);
    expect((failure as MigrateError).code).toBe('SOURCE_CORRUPT');
    expect((failure as MigrateError).message).toMatch(/kv row kpi_milestone:ffffffff-0000-4000-8000-000000000000 of "bad_kv": value is not a JSON object/);
  });
});

async function expectRowsMatchCommittedCountsOfRun(db: TestDatabase, runId: string): Promise<void> {
  // Rows accumulate over this file's runs: what the failed run committed is what it counted.
  const { rows } = await db.sql.query<{ n: string }>(`select count(*)::text as n from public.kpi_data where last_run_id = $1::bigint`, [runId]);
  const accounting = await accountingOf(db.sql, runId);
  expect(Number(rows[0]!.n)).toBe((accounting.KpiMilestone?.inserted ?? 0) + (accounting.KpiMilestone?.updated ?? 0));
}
