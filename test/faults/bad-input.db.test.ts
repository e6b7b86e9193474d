import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { createExportSource } from '../../src/extract/export-source.js';
import { createKvSource } from '../../src/extract/kv-source.js';
import type { LegacySource } from '../../src/model/source.js';
import { runMigration, type RunResult } from '../../src/pipeline/run.js';
import { defaultTableNames, LEGACY_ENTITIES, type LegacyEntity } from '../../src/model/entities.js';
import { validateMigration } from '../../src/validate/validate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { accountingOf, expectBalanced, runStatus, temporaryDirectory } from './harness.js';
import { corruptCases, unreadableLineCases, exportLine, loadedCases, lookups, milestone, milestoneId, rejectedCases, KPI, LINK, PERSON, TENANT, USER } from './bad-input-corpus.js';

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

  it('export files: a line that is not an item is a reject keeping the line whole, and the run goes on', async () => {
    // A database of its own: the validation at the end compares the whole target with this source.
    const db = await createTestDatabase();
    onTestFinished(() => db.drop());
    const cases = unreadableLineCases();
    const dir = path.join(work.dir, 'unreadable-lines');
    const good = [milestoneId(), milestoneId()];
    const lines = [exportLine(milestone(good[0]!)), ...cases.map((c) => c.line), exportLine(milestone(good[1]!))];
    await writeTables(dir, { ...lookups, KpiMilestone: lines });
    const source = createExportSource({ dir, tableNames: TABLES });
    const result = await migrate(db, source);

    expect(result.status).toBe('completed');
    const accounting = await accountingOf(db.sql, result.runId);
    expectBalanced(accounting);
    expect(accounting.KpiMilestone).toMatchObject({ read: lines.length, migrated: 2, rejected: cases.length, skipped: 0 });
    const { rows: stored } = await db.sql.query<{ source_id: string | null; reason: string; attribute: string; message: string; item: string }>(
      `select source_id, reason, attribute, message, item::text as item from kpi_migrate.rejects where run_id = $1::bigint and source_entity = 'KpiMilestone' order by id`,
      [result.runId],
    );
    const rows = stored.map((r) => ({ ...r, item: JSON.parse(r.item) as { line: string; Id?: string } }));
    expect(rows).toHaveLength(cases.length);
    for (const [index, c] of cases.entries()) {
      const reject = rows.find((r) => r.item.line === c.line);
      expect(reject, c.name).toBeDefined();
      expect(reject, c.name).toMatchObject({ source_id: c.sourceId, reason: 'invalid_value', attribute: c.attribute });
      // The line as it was written, and its Id when it has one: nothing else, nothing lost.
      expect(reject!.item, c.name).toEqual(c.sourceId === null ? { line: c.line } : { Id: c.sourceId, line: c.line });
      const where = `line ${index + 2} of ${TABLES.KpiMilestone}.jsonl is not a DynamoDB JSON item`;
      expect(reject!.message.startsWith(`${c.attribute}: ${where}: `), `${c.name}: ${reject!.message}`).toBe(true);
      expect(reject!.message.replace(/ \[invalid_value\]$/, ''), c.name).toMatch(c.says);
    }
    expect((await db.sql.query(`select 1 from public.kpi_data where source_id = any($1::text[])`, [good])).rows).toHaveLength(2);

    const report = await validateMigration({ source, sql: db.sql, targetSchema: 'public', runId: result.runId, sample: 10, seed: 1, full: true });
    expect(report.checks.filter((c) => c.status === 'failed').map((c) => `${c.name} ${c.summary}`)).toEqual([]);
    expect(report.outcome).toBe('passed');
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

  it('kv_store: __proto__ and odd values survive', async () => {
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

    // A jsonb value that is not an object: a reject naming the key, and the run completes.
    const listed = 'ffffffff-0000-4000-8000-000000000000';
    await put(`kpi_milestone:${listed}`, '[1, 2, 3]');
    const again = await migrate(db, createKvSource({ sql: db.sql, table: 'bad_kv' }));
    expect(again.status).toBe('completed');
    const recount = await accountingOf(db.sql, again.runId);
    expectBalanced(recount);
    expect(recount.KpiMilestone).toMatchObject({ read: 5, migrated: 3, rejected: 2 });
    const { rows: listedRejects } = await db.sql.query<{ reason: string; attribute: string; message: string; item: string }>(
      `select reason, attribute, message, item::text as item from kpi_migrate.rejects where run_id = $1::bigint and source_id = $2`,
      [again.runId, listed],
    );
    expect(listedRejects).toEqual([
      {
        reason: 'invalid_value',
        attribute: 'value',
        message: `value: a JSON array, not a JSON object (kv row kpi_milestone:${listed} of "bad_kv") [invalid_value]`,
        item: `{"Id": "${listed}", "value": [1, 2, 3]}`,
      },
    ]);
  });

  it('kv_store: a value that is not a JSON object, or not JSON at all, is a reject keeping the row, and the run goes on', async () => {
    // A database of its own: the validation at the end compares the whole target with this source.
    const db = await createTestDatabase();
    onTestFinished(() => db.drop());
    // A text column, as some kv_store tables are: it can hold what jsonb never would.
    await db.sql.exec(`create table bad_kv_text (key text primary key, value text)`);
    const put = (key: string, text: string | null) => db.sql.query('insert into bad_kv_text (key, value) values ($1, $2)', [key, text]);
    await put('kpi:' + KPI, JSON.stringify({ Id: KPI, TenantId: TENANT, Name: 'Revenue', OwnerId: USER }));
    await put('kpi:b0000000-0000-4000-8000-0000000000aa', '["a KPI", "as a list"]');
    await put('person:' + PERSON, JSON.stringify({ Id: PERSON, TenantId: TENANT, DisplayName: 'Ada', LinkedUserId: USER }));
    await put('person:d0000000-0000-4000-8000-0000000000aa', null);
    await put(`goal_kpi_link:${LINK}`, JSON.stringify({ Id: LINK, TenantId: TENANT, GoalId: KPI, KpiId: KPI, CreatedBy: USER, CreatedAt: '2024-01-01' }));
    await put('goal_kpi_link:e0000000-0000-4000-8000-0000000000aa', '42');
    const good = milestoneId();
    const base = { TenantId: TENANT, KpiId: KPI, TargetValue: 1, MilestoneDate: '2024-06-30', CreatedBy: USER, CreatedAt: '2024-01-02' };
    await put(`kpi_milestone:${good}`, JSON.stringify({ Id: good, ...base }));
    const bad = {
      array: [milestoneId(), '[1, 2, 3]'],
      string: [milestoneId(), '"a milestone"'],
      number: [milestoneId(), '12345678901234567890.123456789012345678'],
      jsonNull: [milestoneId(), 'null'],
      cutShort: [milestoneId(), `{"Id": "x", "TenantId": "${TENANT}", "Targ`],
      notJson: [milestoneId(), 'TargetValue=1; MilestoneDate=2024-06-30'],
      sqlNull: [milestoneId(), null],
    } as const;
    for (const [id, text] of Object.values(bad)) await put(`kpi_milestone:${id}`, text);
    // No id after the prefix: the record has no Id, which the mapping rejects as it does any other.
    await put('kpi_milestone:', JSON.stringify(base));

    const result = await migrate(db, createKvSource({ sql: db.sql, table: 'bad_kv_text' }));
    expect(result.status).toBe('completed');
    const accounting = await accountingOf(db.sql, result.runId);
    expectBalanced(accounting);
    expect(accounting.Kpi).toMatchObject({ read: 2, migrated: 1, rejected: 1 });
    expect(accounting.Person).toMatchObject({ read: 2, migrated: 1, rejected: 1 });
    expect(accounting.GoalKpiLink).toMatchObject({ read: 2, migrated: 1, rejected: 1 });
    expect(accounting.KpiMilestone).toMatchObject({ read: 9, migrated: 1, rejected: 8, skipped: 0 });

    const { rows } = await db.sql.query<{ source_entity: string; source_id: string | null; reason: string; attribute: string | null; message: string; item: string }>(
      `select source_entity, source_id, reason, attribute, message, item::text as item from kpi_migrate.rejects where run_id = $1::bigint order by source_entity, source_id`,
      [result.runId],
    );
    const byId = new Map(rows.map((r) => [`${r.source_entity} ${r.source_id}`, r]));
    const expectReject = (entity: string, id: string, item: string, message: RegExp) => {
      const reject = byId.get(`${entity} ${id}`);
      expect(reject, `${entity} ${id}`).toMatchObject({ reason: 'invalid_value', attribute: 'value', item });
      expect(reject!.message).toMatch(message);
    };
    expectReject('Kpi', 'b0000000-0000-4000-8000-0000000000aa', '{"Id": "b0000000-0000-4000-8000-0000000000aa", "value": ["a KPI", "as a list"]}', /^value: a JSON array, not a JSON object \(kv row kpi:b0000000-0000-4000-8000-0000000000aa of "bad_kv_text"\) \[invalid_value\]$/);
    expectReject('Person', 'd0000000-0000-4000-8000-0000000000aa', '{"Id": "d0000000-0000-4000-8000-0000000000aa"}', /^value: SQL NULL, not a JSON object/);
    expectReject('GoalKpiLink', 'e0000000-0000-4000-8000-0000000000aa', '{"Id": "e0000000-0000-4000-8000-0000000000aa", "value": 42}', /a JSON number/);
    expectReject('KpiMilestone', bad.array[0], `{"Id": "${bad.array[0]}", "value": [1, 2, 3]}`, /a JSON array/);
    expectReject('KpiMilestone', bad.string[0], `{"Id": "${bad.string[0]}", "value": "a milestone"}`, /a JSON string/);
    // Digit for digit: the number is kept as jsonb holds it, never through a JS float.
    expectReject('KpiMilestone', bad.number[0], `{"Id": "${bad.number[0]}", "value": 12345678901234567890.123456789012345678}`, /a JSON number/);
    expectReject('KpiMilestone', bad.jsonNull[0], `{"Id": "${bad.jsonNull[0]}", "value": null}`, /a JSON null/);
    expectReject('KpiMilestone', bad.cutShort[0], `{"Id": "${bad.cutShort[0]}", "text": ${JSON.stringify(bad.cutShort[1])}}`, /text that is not JSON \(unterminated string at position 69 of the JSON text\)/);
    expectReject('KpiMilestone', bad.notJson[0], `{"Id": "${bad.notJson[0]}", "text": "${bad.notJson[1]}"}`, /text that is not JSON \(unexpected character at position 0/);
    expectReject('KpiMilestone', bad.sqlNull[0], `{"Id": "${bad.sqlNull[0]}"}`, /SQL NULL/);
    expect(byId.get('KpiMilestone ')).toMatchObject({ reason: 'missing_field', attribute: 'Id' });
    expect((await db.sql.query(`select 1 from public.kpi_data where source_id = $1`, [good])).rows).toHaveLength(1);

    // The validator, re-reading the source through the transform, finds the same rejects.
    const report = await validateMigration({ source: createKvSource({ sql: db.sql, table: 'bad_kv_text' }), sql: db.sql, targetSchema: 'public', runId: result.runId, sample: 10, seed: 1, full: true });
    expect(report.checks.filter((c) => c.status === 'failed').map((c) => `${c.name} ${c.summary}`)).toEqual([]);
    expect(report.outcome).toBe('passed');
  });
});

async function expectRowsMatchCommittedCountsOfRun(db: TestDatabase, runId: string): Promise<void> {
  // Rows accumulate over this file's runs: what the failed run committed is what it counted.
  const { rows } = await db.sql.query<{ n: string }>(`select count(*)::text as n from public.kpi_data where last_run_id = $1::bigint`, [runId]);
  const accounting = await accountingOf(db.sql, runId);
  expect(Number(rows[0]!.n)).toBe((accounting.KpiMilestone?.inserted ?? 0) + (accounting.KpiMilestone?.updated ?? 0));
}
