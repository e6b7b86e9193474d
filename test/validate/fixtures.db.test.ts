import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKvSource } from '../../src/extract/kv-source.js';
import { finalizeTarget } from '../../src/load/finalize.js';
import { loadKvStore } from '../../src/seed/load-kv-store.js';
import { canonicalTenantOf, DATA_ENTITIES, MIGRATED_ENTITIES } from '../../src/transform/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { expectedOutcome, SMALL_FIXTURES } from '../support/fixtures.js';
import { checkNamed, differences, expectClean, failedChecks, fixtureSource, migrate, validate } from './harness.js';

const expected = expectedOutcome();
const databases: TestDatabase[] = [];

afterAll(async () => {
  for (const db of databases) await db.drop();
});

async function migratedFixtures(): Promise<{ db: TestDatabase; runId: string }> {
  const db = await createTestDatabase();
  databases.push(db);
  const run = await migrate(db.sql, fixtureSource());
  expect(run.status).toBe('completed');
  return { db, runId: run.runId };
}

async function one<T>(db: TestDatabase, text: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.sql.query<T>(text, params);
  expect(rows.length, text).toBeGreaterThan(0);
  return rows[0]!;
}

describe('validate: a clean migration of the committed fixtures', () => {
  it('passes every check, by default and with --full, and its figures are the generator’s expected outcome', async () => {
    const { db, runId } = await migratedFixtures();
    const source = fixtureSource();
    const report = await validate(db.sql, source);
    expectClean(report);
    expect(report.runId).toBe(runId);
    for (const entity of MIGRATED_ENTITIES) {
      const figures = report.entities.find((e) => e.entity === entity)!;
      const want = expected.tables[entity];
      const rejected = Object.values(want.rejected).reduce((sum, n) => sum + (n ?? 0), 0);
      expect({ entity, read: figures.read, migrated: figures.migrated, rejected: figures.rejected, byReason: figures.rejectsByReason })
        .toEqual({ entity, read: want.read, migrated: want.migrated, rejected, byReason: expect.objectContaining(want.rejected) });
    }
    for (const entity of DATA_ENTITIES) expect(checkNamed(report, 'fan-out', entity).evidence.expectedRows).toBe(expected.kpiDataRows[entity]);
    expect(checkNamed(report, 'person-fallbacks').evidence.count).toBe(expected.personFallbacks);
    expect(checkNamed(report, 'unknown-kpis').status).toBe('warning');
    expect(checkNamed(report, 'samples').evidence.sampled).toBe(50);
    for (const subject of ['all data of a link ordered by date', 'the links of a KPI']) expect(checkNamed(report, 'index-use', subject).status).toBe('passed');

    const full = await validate(db.sql, source, { full: true, sample: 10_000 });
    expectClean(full);
    expect(checkNamed(full, 'full-compare', 'kpi_data').evidence.expectedRows).toBe(Object.values(expected.kpiDataRows).reduce((a, b) => a + b, 0));
    expect(checkNamed(full, 'samples').evidence.sampled).toBe(MIGRATED_ENTITIES.reduce((sum, entity) => sum + expected.tables[entity].read, 0));
  });

  it('passes again after a re-run (contract §4), and against the scan dumps of the same data', async () => {
    const { db } = await migratedFixtures();
    const again = await migrate(db.sql, fixtureSource());
    const report = await validate(db.sql, fixtureSource(), { full: true });
    expectClean(report);
    expect(report.runId).toBe(again.runId);
    expectClean(await validate(db.sql, fixtureSource(path.join(SMALL_FIXTURES, 'scan')), { full: true }));
  });

  it('accounts for a tenant-filtered run: the other tenants’ records are skipped, and only the tenant’s rows are compared', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    let tenant: string | undefined;
    for await (const page of fixtureSource().readTable('GoalKpiLink')) {
      tenant ??= page.items.map(canonicalTenantOf).find((t) => t !== undefined);
    }
    await migrate(db.sql, fixtureSource(), { tenant });
    const report = await validate(db.sql, fixtureSource(), { full: true, sample: 10_000 });
    expectClean(report);
    expect(report.options.tenant).toBe(tenant);
    const links = report.entities.find((e) => e.entity === 'GoalKpiLink')!;
    expect(links.skipped).toBeGreaterThan(0);
    expect(links.read).toBe(links.migrated + links.rejected + links.skipped);
  });

  it('passes for a run from a kv_store table, validated against that table', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    await loadKvStore(db.sql, path.join(SMALL_FIXTURES, 'kv', 'kv_store.jsonl'), { table: 'legacy_kv' });
    const source = createKvSource({ sql: db.sql, table: 'legacy_kv' });
    await migrate(db.sql, source);
    const report = await validate(db.sql, source, { full: true, sample: 10_000 });
    expectClean(report);
    expect(report.source.kind).toBe('kv');
  });
});

describe('validate: what was done to the target after a migration is found, and the exact record named', () => {
  it('a deleted row', async () => {
    const { db } = await migratedFixtures();
    const fannedOut = await one<{ id: string; source_id: string }>(db,
      `select id::text as id, source_id from kpi_data where source_id in (
         select source_id from kpi_data where source_entity = 'KpiActual' group by source_id having count(*) >= 2)
       order by id limit 1`);
    const single = await one<{ id: string; source_id: string }>(db,
      `select min(id::text) as id, source_id from kpi_data where source_entity = 'KpiMilestone' group by source_id having count(*) = 1 order by source_id limit 1`);
    await db.sql.query('delete from kpi_data where id = any($1::uuid[])', [`{${fannedOut.id},${single.id}}`]);

    const report = await validate(db.sql, fixtureSource());
    expect(report.outcome).toBe('failed');
    expect(failedChecks(report)).toEqual(expect.arrayContaining(['rows:kpi_data', 'fan-out:KpiActual', 'fan-out:KpiMilestone', 'accounting:KpiMilestone']));
    const missing = checkNamed(report, 'rows', 'kpi_data').differences;
    expect(missing).toEqual([
      expect.objectContaining({ kind: 'missing_row', id: fannedOut.id < single.id ? fannedOut.id : single.id }),
      expect.objectContaining({ kind: 'missing_row', id: fannedOut.id < single.id ? single.id : fannedOut.id }),
    ]);
    expect(missing).toEqual(expect.arrayContaining([
      expect.objectContaining({ id: fannedOut.id, entity: 'KpiActual', sourceId: fannedOut.source_id }),
      expect.objectContaining({ id: single.id, entity: 'KpiMilestone', sourceId: single.source_id }),
    ]));
    expect(checkNamed(report, 'accounting', 'KpiMilestone').summary).toContain('≠');
  });

  it('a changed post_value: named by --full, and by a sample that includes its record', async () => {
    const { db } = await migratedFixtures();
    const row = await one<{ id: string; source_entity: string; source_id: string; post_value: string }>(db,
      `select id::text as id, source_entity, source_id, post_value::text as post_value from kpi_data where source_entity = 'KpiReading' order by id limit 1 offset 7`);
    await db.sql.query('update kpi_data set post_value = post_value + 1 where id = $1', [row.id]);
    const found = (await one<{ v: string }>(db, 'select post_value::text as v from kpi_data where id = $1', [row.id])).v;
    const wanted = { id: row.id, entity: row.source_entity, sourceId: row.source_id, column: 'post_value', expected: row.post_value, found };

    const full = await validate(db.sql, fixtureSource(), { full: true, sample: 0 });
    expect(failedChecks(full)).toEqual(['full-compare:kpi_data']);
    expect(checkNamed(full, 'full-compare', 'kpi_data').differences).toEqual([expect.objectContaining({ kind: 'changed_value', ...wanted })]);

    const sampled = await validate(db.sql, fixtureSource(), { sample: 10_000 });
    expect(failedChecks(sampled)).toEqual(['samples']);
    expect(checkNamed(sampled, 'samples').differences).toEqual([expect.objectContaining({ kind: 'changed_value', ...wanted })]);
  });

  it('an extra row', async () => {
    const { db } = await migratedFixtures();
    const copy = await one<{ id: string; source_id: string }>(db,
      `insert into kpi_data select gen_random_uuid(), kpi_link_id, data_category, target_subtype, actual_subtype, post_value, post_date,
         measured_period_start_date, label, confidence_level, rationale, original_value, is_manual_override, override_comment, data_source,
         source_reference_id, triggers_replan, replan_threshold_exceeded, auto_adjustment_applied, recorded_by, recorded_at, created_by,
         created_at, updated_by, updated_at, source_entity, source_id, legacy_extra, first_run_id, last_run_id
       from kpi_data where source_entity = 'KpiActual' order by id limit 1
       returning id::text as id, source_id`);
    const report = await validate(db.sql, fixtureSource(), { sample: 0 });
    expect(failedChecks(report)).toEqual(['fan-out:KpiActual', 'rows:kpi_data']);
    expect(checkNamed(report, 'rows', 'kpi_data').differences).toEqual([
      expect.objectContaining({ kind: 'extra_row', id: copy.id, entity: 'KpiActual', sourceId: copy.source_id }),
    ]);
  });

  it('a tool-written link no source record produces: a failure, unless rows of the application reference it (the sweep keeps it)', async () => {
    const { db } = await migratedFixtures();
    const gone = await one<{ id: string }>(db,
      `insert into kpi_links select (jsonb_populate_record(null::kpi_links, to_jsonb(l) || jsonb_build_object('id', gen_random_uuid(), 'source_id', 'a-record-gone-from-the-source'))).*
       from kpi_links l where source_entity = 'GoalKpiLink' order by id limit 1
       returning id::text as id`);
    await finalizeTarget(db.sql, 'public');
    const extra = await validate(db.sql, fixtureSource(), { full: true, sample: 0 });
    expect(failedChecks(extra)).toEqual(['accounting:GoalKpiLink', 'full-compare:kpi_links']);
    expect(checkNamed(extra, 'full-compare', 'kpi_links').differences).toEqual([
      expect.objectContaining({ kind: 'extra_row', id: gone.id, entity: 'GoalKpiLink', sourceId: 'a-record-gone-from-the-source' }),
    ]);

    await db.sql.query(
      `insert into kpi_data select (jsonb_populate_record(null::kpi_data, to_jsonb(d) || jsonb_build_object('id', gen_random_uuid(), 'kpi_link_id', $1::uuid,
         'source_entity', null, 'source_id', null, 'first_run_id', null, 'last_run_id', null))).*
       from kpi_data d where source_entity = 'KpiActual' order by id limit 1`,
      [gone.id],
    );
    await finalizeTarget(db.sql, 'public');
    const kept = await validate(db.sql, fixtureSource(), { full: true, sample: 10_000 });
    expectClean(kept);
    expect(kept.warnings).toEqual(expect.arrayContaining([
      expect.stringMatching(/^0 kpi_links and 1 kpi_data row\(s\) have no provenance/),
      `1 kpi_links row(s) written by the tool are produced by no record of the source, but kept because rows of the application (no provenance) reference them: ${gone.id}; they were not compared`,
    ]));
  });

  it('a row moved to another link', async () => {
    const { db } = await migratedFixtures();
    const row = await one<{ id: string; source_id: string; kpi_link_id: string }>(db,
      `select id::text as id, source_id, kpi_link_id::text as kpi_link_id from kpi_data where source_entity = 'KpiMilestone' order by id limit 1 offset 3`);
    const other = await one<{ id: string }>(db, 'select id::text as id from kpi_links where id <> $1 order by id limit 1', [row.kpi_link_id]);
    await db.sql.query('update kpi_data set kpi_link_id = $2 where id = $1', [row.id, other.id]);
    const report = await validate(db.sql, fixtureSource(), { sample: 0 });
    expect(failedChecks(report)).toEqual(['rows:kpi_data']);
    expect(checkNamed(report, 'rows', 'kpi_data').differences).toEqual([
      expect.objectContaining({ kind: 'changed_value', id: row.id, entity: 'KpiMilestone', sourceId: row.source_id, column: 'kpi_link_id', expected: row.kpi_link_id, found: other.id }),
    ]);
  });

  it('a missing reject: one the mapping decides, and one the database decided', async () => {
    const { db, runId } = await migratedFixtures();
    const mapped = await one<{ source_id: string }>(db,
      `delete from kpi_migrate.rejects where id = (select min(id) from kpi_migrate.rejects where run_id = $1 and source_entity = 'KpiActual' and reason = 'invalid_value')
       returning source_id`, [runId]);
    const refused = await one<{ source_id: string }>(db,
      `delete from kpi_migrate.rejects where id = (select min(id) from kpi_migrate.rejects where run_id = $1 and source_entity = 'KpiReading' and reason = 'db_error')
       returning source_id`, [runId]);
    const report = await validate(db.sql, fixtureSource());
    expect(failedChecks(report)).toEqual(expect.arrayContaining(['accounting:KpiActual', 'accounting:KpiReading', 'rows:kpi_data']));
    expect(checkNamed(report, 'accounting', 'KpiActual').differences).toEqual([
      expect.objectContaining({ kind: 'missing_reject', entity: 'KpiActual', sourceId: mapped.source_id, expected: 'invalid_value' }),
    ]);
    const rows = checkNamed(report, 'rows', 'kpi_data').differences;
    expect(rows.length).toBeGreaterThan(0);
    for (const difference of rows) {
      expect(difference).toEqual(expect.objectContaining({ kind: 'missing_row', entity: 'KpiReading', sourceId: refused.source_id }));
      expect(difference.message).toContain('recorded no reject');
    }
  });

  it('a reject that no record of the source accounts for', async () => {
    const { db, runId } = await migratedFixtures();
    await db.sql.query(
      `insert into kpi_migrate.rejects (run_id, source_entity, source_id, reason, message, item)
       values ($1, 'KpiMilestone', 'not-in-the-source', 'invalid_value', 'planted', '{}')`,
      [runId],
    );
    const report = await validate(db.sql, fixtureSource(), { sample: 0 });
    expect(failedChecks(report)).toEqual(['accounting:KpiMilestone']);
    expect(checkNamed(report, 'accounting', 'KpiMilestone').differences).toEqual([
      expect.objectContaining({ kind: 'unexplained_reject', sourceId: 'not-in-the-source', found: 'invalid_value' }),
    ]);
  });
});

describe('validate: schema, orphans and references', () => {
  it('an orphan row, a foreign key that is NOT VALID, and a missing index fail with the evidence', async () => {
    const { db } = await migratedFixtures();
    await db.sql.exec(`
      alter table kpi_data drop constraint kpi_data_kpi_link_id_fkey;
      update kpi_data set kpi_link_id = '00000000-0000-0000-0000-0000000000aa' where id = (select id from kpi_data order by id limit 1);
      alter table kpi_data add constraint kpi_data_kpi_link_id_fkey foreign key (kpi_link_id) references kpi_links (id) not valid;
      drop index kpi_data_link_date_idx;
    `);
    const orphan = await one<{ id: string }>(db, `select id::text as id from kpi_data where kpi_link_id = '00000000-0000-0000-0000-0000000000aa'`);
    const report = await validate(db.sql, fixtureSource(), { sample: 0 });
    expect(failedChecks(report)).toEqual(expect.arrayContaining(['schema', 'orphans', 'index-use:all data of a link ordered by date', 'rows:kpi_data']));
    const schemaMessages = checkNamed(report, 'schema').differences.map((d) => d.message);
    expect(schemaMessages).toEqual(expect.arrayContaining([
      expect.stringContaining('foreign key on kpi_data(kpi_link_id) → kpi_links(id) (kpi_data_kpi_link_id_fkey) is NOT VALID'),
      expect.stringContaining('index on kpi_data(kpi_link_id, post_date)'),
    ]));
    expect(checkNamed(report, 'orphans').differences).toEqual([expect.objectContaining({ kind: 'orphan_row', id: orphan.id })]);
    expect(differences(report).filter((d) => d.kind === 'changed_value' && d.id === orphan.id)).toEqual([
      expect.objectContaining({ column: 'kpi_link_id', found: '00000000-0000-0000-0000-0000000000aa' }),
    ]);
  });

  it('a target without the tables fails the schema check and checks nothing else', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    await db.sql.exec('drop table kpi_data; drop table kpi_links;');
    const report = await validate(db.sql, fixtureSource());
    expect(report.checks.map((c) => `${c.name}:${c.status}`)).toEqual(['schema:failed']);
    expect(checkNamed(report, 'schema').differences.map((d) => d.message)).toEqual(expect.arrayContaining(['table public.kpi_links is missing', 'table public.kpi_data is missing']));
  });

  it('refuses a run that does not exist (a usage error)', async () => {
    const { db } = await migratedFixtures();
    await expect(validate(db.sql, fixtureSource(), { runId: '999999' })).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' });
  });
});
