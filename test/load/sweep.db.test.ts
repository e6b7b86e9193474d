import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBatch } from '../../src/load/batch-writer.js';
import { runCounts } from '../../src/load/ledger.js';
import { listRejects } from '../../src/load/rejects.js';
import { rollbackRun } from '../../src/load/rollback.js';
import { parseDeleteLimit, sweepRun } from '../../src/load/sweep.js';
import { MigrateError } from '../../src/errors.js';
import type { RecordRows } from '../../src/load/prepare-record.js';
import type { KpiLinkRow } from '../../src/model/rows.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { targetRows } from '../support/target-rows.js';
import { TENANT, count, dataBatch, dataRecord, linkBatch, linkRecord, newRun, uuid } from './fixtures.js';

const OTHER_TENANT = uuid(9, 0xaaaa);
const APP_LINK = uuid(1, 0x9999);
const APP_DATA_ON_APP_LINK = uuid(2, 0x9999);
const APP_DATA_ON_TOOL_LINK = uuid(3, 0x9999);

const M1 = uuid(100, 0x3333);
const M2 = uuid(101, 0x3333);
const A1 = uuid(200, 0x3333);
const A2 = uuid(201, 0x3333);

const link = (n: number, overrides: Partial<KpiLinkRow> = {}): RecordRows<KpiLinkRow> => linkRecord(n, overrides);
const L = (n: number): string => uuid(n, 0x1111);

/** Rows as the live application inserts them: the contract columns only, no provenance or run. */
async function insertApplicationRows(db: TestDatabase, toolLink: string): Promise<void> {
  await db.sql.query(
    `insert into public.kpi_links (id, tenant_id, kpi_id, person_id, link_type, is_primary, created_by, created_at)
     values ($1, $2, $3, $3, 'supporting', false, $3, now())`,
    [APP_LINK, TENANT, uuid(2, 0xaaaa)],
  );
  for (const [id, linkId] of [[APP_DATA_ON_APP_LINK, APP_LINK], [APP_DATA_ON_TOOL_LINK, toolLink]]) {
    await db.sql.query(
      `insert into public.kpi_data (id, kpi_link_id, data_category, actual_subtype, post_value, post_date)
       values ($1, $2, 'actual', 'measured', 7, now())`,
      [id, linkId],
    );
  }
}

/** Run 1 (plain): links 1–4 of TENANT, 5 of OTHER_TENANT; M1 on links 1 and 2, M2 on 3, A1 on 1, A2 on 5. */
async function firstRun(db: TestDatabase): Promise<string> {
  const run = await newRun(db.sql);
  await writeBatch(db.sql, linkBatch(run, [link(1), link(2), link(3), link(4), link(5, { tenant_id: OTHER_TENANT })]));
  await writeBatch(db.sql, dataBatch(run, 'KpiMilestone', [dataRecord('KpiMilestone', M1, [L(1), L(2)]), dataRecord('KpiMilestone', M2, [L(3)])]));
  await writeBatch(db.sql, dataBatch(run, 'KpiActual', [dataRecord('KpiActual', A1, [L(1)]), dataRecord('KpiActual', A2, [L(5)])]));
  return run;
}

/**
 * Run 2 (converge), the source having changed: link 2 reweighted and now primary, links 4 and 5
 * gone; M1 fans out to link 2 first (its legacy id moves there), M2 gone, A2 gone.
 */
async function convergeBatches(db: TestDatabase): Promise<string> {
  const run = await newRun(db.sql);
  const converge = { converge: true };
  const links = await writeBatch(db.sql, linkBatch(run, [link(1, { is_primary: false }), link(2, { weight: '2.5', is_primary: true }), link(3)], converge));
  expect(links).toMatchObject({ updated: 2, unchanged: 1, deleted: 0 });
  const milestones = await writeBatch(db.sql, dataBatch(run, 'KpiMilestone', [dataRecord('KpiMilestone', M1, [L(2), L(1)])], converge));
  // The derived row of link 2 is no longer produced, but a converge batch leaves every delete to the sweep.
  expect(milestones).toMatchObject({ inserted: 1, updated: 1, deleted: 0 });
  await writeBatch(db.sql, dataBatch(run, 'KpiActual', [dataRecord('KpiActual', A1, [L(1)])], converge));
  return run;
}

const ids = async (db: TestDatabase, table: string): Promise<string[]> =>
  (await db.sql.query<{ id: string }>(`select id::text as id from public.${table} order by id`)).rows.map((r) => r.id);

describe('the converge sweep', () => {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });
  const database = async (): Promise<TestDatabase> => {
    const db = await createTestDatabase();
    dbs.push(db);
    return db;
  };

  describe('after a converge run on a changed source', () => {
    let db: TestDatabase;
    let before: Awaited<ReturnType<typeof targetRows>>;
    let run2: string;
    beforeAll(async () => {
      db = await database();
      await firstRun(db);
      await insertApplicationRows(db, L(4));
      before = await targetRows(db.sql);
      run2 = await convergeBatches(db);
    });

    it('removes every tool-written row the run did not produce, keeps the application rows and the link they reference, and counts per entity', async () => {
      const outcome = await sweepRun(db.sql, { runId: run2, targetSchema: 'public', maxDelete: parseDeleteLimit('100%') });
      expect(outcome).toMatchObject({
        alreadySwept: false,
        deleted: { GoalKpiLink: 1, KpiMilestone: 2, KpiActual: 1, KpiReading: 0 },
        keptReferencedLinks: 1,
      });
      expect(outcome.tables).toEqual([
        { table: 'kpi_links', toolRows: 5, toDelete: 1 },
        { table: 'kpi_data', toolRows: 6, toDelete: 3 },
      ]);
      // Link 5 and its actual are gone; link 4 stays for the application's row on it.
      expect(await ids(db, 'kpi_links')).toEqual([L(1), L(2), L(3), L(4), APP_LINK].sort());
      const data = await db.sql.query<{ id: string; kpi_link_id: string; source_entity: string | null }>(
        'select id::text as id, kpi_link_id::text as kpi_link_id, source_entity from public.kpi_data order by id',
      );
      expect(data.rows.filter((r) => r.source_entity === null).map((r) => r.id)).toEqual([APP_DATA_ON_APP_LINK, APP_DATA_ON_TOOL_LINK].sort());
      // M1's legacy id now hangs on link 2 (the primary); its other row is link 1's.
      expect(data.rows.filter((r) => r.source_entity === 'KpiMilestone').map((r) => r.kpi_link_id).sort()).toEqual([L(1), L(2)].sort());
      expect(data.rows.find((r) => r.id === M1)?.kpi_link_id).toBe(L(2));
      expect(data.rows.some((r) => r.id === M2 || r.id === A2)).toBe(false);

      const counts = await runCounts(db.sql, run2);
      expect(counts.entities.GoalKpiLink?.deleted).toBe(1);
      expect(counts.entities.KpiMilestone?.deleted).toBe(2);
      expect(counts.entities.KpiActual?.deleted).toBe(1);
      expect(await count(db.sql, `select 1 from kpi_migrate.row_history where run_id = $1 and operation = 'delete'`, [run2])).toBe(4);
      expect(await count(db.sql, 'select 1 from kpi_migrate.run_rows where run_id = $1', [run2])).toBe(0);
      expect(await count(db.sql, 'select 1 from kpi_migrate.run_counts where run_id = $1 and entity = $2 and kept_referenced = 1', [run2, 'GoalKpiLink'])).toBe(1);
    });

    it('a second sweep of the same run (a resumed run) deletes and counts nothing more', async () => {
      const again = await sweepRun(db.sql, { runId: run2, targetSchema: 'public', maxDelete: parseDeleteLimit('0') });
      expect(again).toMatchObject({ alreadySwept: true, deleted: { GoalKpiLink: 1, KpiMilestone: 2, KpiActual: 1, KpiReading: 0 } });
      expect((await runCounts(db.sql, run2)).entities.KpiMilestone?.deleted).toBe(2);
    });

    it('rollback of the converge run restores the target exactly as it was before it', async () => {
      await rollbackRun(db.sql, { runId: run2, schema: 'public', confirm: true });
      expect(await targetRows(db.sql)).toEqual(before);
    });
  });

  describe('the guard', () => {
    it('refuses before any delete when a table would lose more than the limit, with the figures; raised, it deletes', async () => {
      const db = await database();
      await firstRun(db);
      const before = await targetRows(db.sql);
      // A source with one link left and no facts: a wrong or half-copied source.
      const run = await newRun(db.sql);
      await writeBatch(db.sql, linkBatch(run, [link(1)], { converge: true }));
      const refused = await sweepRun(db.sql, { runId: run, targetSchema: 'public', maxDelete: parseDeleteLimit('10%') }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(MigrateError);
      const error = refused as MigrateError;
      expect(error.code).toBe('CONVERGE_REFUSED');
      expect(error.message).toContain('kpi_links: would delete 4 of the 5 row(s) the tool wrote (80.0%)');
      expect(error.message).toContain('kpi_data: would delete 5 of the 5 row(s) the tool wrote (100.0%)');
      expect(error.message).toContain('--max-delete');
      expect(error.details.tables).toEqual([
        { table: 'kpi_links', toolRows: 5, toDelete: 4 },
        { table: 'kpi_data', toolRows: 5, toDelete: 5 },
      ]);
      expect(await targetRows(db.sql)).toEqual(before);
      expect(await count(db.sql, 'select 1 from kpi_migrate.runs where id = $1 and swept_at is null', [run])).toBe(1);
      expect((await runCounts(db.sql, run)).entities.KpiActual?.deleted ?? 0).toBe(0);

      // A row limit counts rows, per table: 5 allows both tables.
      await expect(sweepRun(db.sql, { runId: run, targetSchema: 'public', maxDelete: parseDeleteLimit('4') })).rejects.toMatchObject({ code: 'CONVERGE_REFUSED' });
      const outcome = await sweepRun(db.sql, { runId: run, targetSchema: 'public', maxDelete: parseDeleteLimit('5') });
      expect(outcome.deleted).toEqual({ GoalKpiLink: 4, KpiMilestone: 3, KpiActual: 2, KpiReading: 0 });
      expect(await ids(db, 'kpi_links')).toEqual([L(1)]);
      expect(await ids(db, 'kpi_data')).toEqual([]);
    });

    it('parses N rows and P% and refuses anything else', () => {
      expect(parseDeleteLimit('5000')).toEqual({ rows: 5000 });
      expect(parseDeleteLimit('12.5%')).toEqual({ percent: 12.5 });
      for (const bad of ['', '-1', '101%', 'ten', '5 rows']) expect(() => parseDeleteLimit(bad), bad).toThrow(/--max-delete/);
    });
  });

  it('scoped to a tenant, sweeps only that tenant’s rows (kpi_data by its link’s tenant)', async () => {
    const db = await database();
    await firstRun(db);
    const run = await convergeBatches(db);
    const outcome = await sweepRun(db.sql, { runId: run, targetSchema: 'public', tenant: TENANT, maxDelete: parseDeleteLimit('100%') });
    // Link 4 and M2, M1's old derived row; link 5 and A2 are OTHER_TENANT's and stay.
    expect(outcome.deleted).toEqual({ GoalKpiLink: 1, KpiMilestone: 2, KpiActual: 0, KpiReading: 0 });
    expect(outcome.tables).toEqual([
      { table: 'kpi_links', toolRows: 4, toDelete: 1 },
      { table: 'kpi_data', toolRows: 5, toDelete: 2 },
    ]);
    expect(await ids(db, 'kpi_links')).toEqual([L(1), L(2), L(3), L(5)]);
    expect((await ids(db, 'kpi_data')).includes(A2)).toBe(true);
  });

  it('a dry-run sweep reports what it would delete and deletes nothing', async () => {
    const db = await database();
    await firstRun(db);
    const run = await convergeBatches(db);
    const before = await targetRows(db.sql);
    const outcome = await sweepRun(db.sql, { runId: run, targetSchema: 'public', maxDelete: parseDeleteLimit('100%'), dryRun: true });
    expect(outcome.deleted).toEqual({ GoalKpiLink: 2, KpiMilestone: 2, KpiActual: 1, KpiReading: 0 });
    expect(await targetRows(db.sql)).toEqual(before);
    expect(await count(db.sql, 'select 1 from kpi_migrate.runs where id = $1 and swept_at is null', [run])).toBe(1);
    expect(await count(db.sql, 'select 1 from kpi_migrate.row_history where run_id = $1', [run])).toBe(3);
  });
});

describe('a converge batch and row ids', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('a row held by a record the run has not produced is taken over, as a fresh run would load it; the run’s own rows defend theirs', async () => {
    const first = await newRun(db.sql);
    await writeBatch(db.sql, linkBatch(first, [link(1)]));
    // Then, the milestone with this Id was rejected: the actual holds the row.
    const shared = uuid(300, 0x3333);
    await writeBatch(db.sql, dataBatch(first, 'KpiActual', [dataRecord('KpiActual', shared, [L(1)])]));

    const plain = await newRun(db.sql);
    await writeBatch(db.sql, linkBatch(plain, [link(1)]));
    const kept = await writeBatch(db.sql, dataBatch(plain, 'KpiMilestone', [dataRecord('KpiMilestone', shared, [L(1)])]));
    expect(kept.rejects.map((r) => r.reason)).toEqual(['id_conflict']);

    // The milestone maps now: a fresh run would give it the row (KpiMilestone comes first).
    const converge = await newRun(db.sql);
    await writeBatch(db.sql, linkBatch(converge, [link(1)], { converge: true }));
    const milestone = await writeBatch(db.sql, dataBatch(converge, 'KpiMilestone', [dataRecord('KpiMilestone', shared, [L(1)])], { converge: true }));
    expect(milestone).toMatchObject({ updated: 1, migrated: 1, rejects: [] });
    const actual = await writeBatch(db.sql, dataBatch(converge, 'KpiActual', [dataRecord('KpiActual', shared, [L(1)])], { converge: true }));
    expect(actual.rejects).toMatchObject([{ reason: 'id_conflict', sourceId: shared }]);
    expect(actual.rejects[0]!.message).toContain(`belongs to KpiMilestone ${shared}`);
    const { rows } = await db.sql.query<{ source_entity: string }>('select source_entity from public.kpi_data where id = $1', [shared]);
    expect(rows).toEqual([{ source_entity: 'KpiMilestone' }]);
    // The old image of the row taken over is kept for rollback.
    expect(await count(db.sql, `select 1 from kpi_migrate.row_history where run_id = $1 and operation = 'update' and old_row ->> 'source_entity' = 'KpiActual'`, [converge])).toBe(1);
  });

  it('scoped to a tenant, a converge run never takes over another tenant’s row', async () => {
    const shared = uuid(350, 0x3333);
    const first = await newRun(db.sql);
    await writeBatch(db.sql, linkBatch(first, [link(1), link(5, { tenant_id: OTHER_TENANT })]));
    await writeBatch(db.sql, dataBatch(first, 'KpiActual', [dataRecord('KpiActual', shared, [L(5)])]));
    const scoped = await newRun(db.sql);
    await writeBatch(db.sql, linkBatch(scoped, [link(1)], { converge: true, tenant: TENANT }));
    const outcome = await writeBatch(db.sql, dataBatch(scoped, 'KpiMilestone', [dataRecord('KpiMilestone', shared, [L(1)])], { converge: true, tenant: TENANT }));
    expect(outcome.rejects).toMatchObject([{ reason: 'id_conflict', sourceId: shared }]);
    const { rows } = await db.sql.query<{ source_entity: string; kpi_link_id: string }>('select source_entity, kpi_link_id::text as kpi_link_id from public.kpi_data where id = $1', [shared]);
    expect(rows).toEqual([{ source_entity: 'KpiActual', kpi_link_id: L(5) }]);
  });

  it('a row the application wrote is never taken over: the record claiming its id is an id_conflict reject, in any run', async () => {
    const appRow = uuid(400, 0x3333);
    const run = await newRun(db.sql);
    await writeBatch(db.sql, linkBatch(run, [link(1)]));
    await db.sql.query(
      `insert into public.kpi_data (id, kpi_link_id, data_category, actual_subtype, post_value, post_date) values ($1, $2, 'actual', 'measured', 1, now())`,
      [appRow, L(1)],
    );
    for (const converge of [false, true]) {
      const outcome = await writeBatch(db.sql, dataBatch(run, 'KpiReading', [dataRecord('KpiReading', appRow, [L(1)])], { converge }));
      expect(outcome).toMatchObject({ inserted: 0, updated: 0, migrated: 0 });
      expect(outcome.rejects).toMatchObject([{ reason: 'id_conflict', sourceId: appRow }]);
      expect(outcome.rejects[0]!.message).toContain('written by the application');
    }
    const { rows } = await db.sql.query<{ source_entity: string | null; post_value: string }>(
      'select source_entity, post_value::text as post_value from public.kpi_data where id = $1',
      [appRow],
    );
    expect(rows).toEqual([{ source_entity: null, post_value: '1' }]);
    expect(await listRejects(db.sql, { runId: run, limit: 10 })).toHaveLength(2);
  });
});
