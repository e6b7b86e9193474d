import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBatch as writeBatchOf, type BatchInput } from '../../src/load/batch-writer.js';
import type { SqlClient } from '../../src/db/sql-client.js';
import { openPgClient } from '../../src/db/pg-client.js';
import { finishRun, loadCheckpoints, runCounts } from '../../src/load/ledger.js';
import { listRejects } from '../../src/load/rejects.js';
import { MigrateError } from '../../src/errors.js';
import type { Reject } from '../../src/model/reject.js';
import { createTestDatabase, usesRealPostgres, type TestDatabase } from '../support/database.js';
import { count, dataBatch, dataRecord, linkBatch, linkRecord, newRun, uuid } from './fixtures.js';

// Every case runs both ways a batch can go: probed for holders first, and staged first with the
// probe in the statement that writes (what a batch of a re-run does). Both must come to the same.
describe.each([false, true])('writeBatch (rows likely held: %s)', (rowsLikelyHeld) => {
  const writeBatch = (sql: SqlClient, input: BatchInput) => writeBatchOf(sql, { ...input, rowsLikelyHeld });
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  const dataRow = async (id: string) =>
    (
      await db.sql.query<{ source_entity: string; source_id: string; post_value: string; label: string | null; first_run_id: string; last_run_id: string }>(
        `select source_entity, source_id, post_value::text as post_value, label, first_run_id::text as first_run_id,
           last_run_id::text as last_run_id from public.kpi_data where id = $1`,
        [id],
      )
    ).rows[0];

  /** Two links of group `n`, loaded in their own run. */
  async function givenLinks(n: number): Promise<[string, string]> {
    const run = await newRun(db.sql);
    const links = [linkRecord(n), linkRecord(n + 1)];
    await writeBatch(db.sql, linkBatch(run, links));
    return [links[0]!.sourceId, links[1]!.sourceId];
  }

  it('inserts a batch, and writing it again in a new run changes nothing', async () => {
    const run1 = await newRun(db.sql);
    const links = [linkRecord(1), linkRecord(2)];
    expect(await writeBatch(db.sql, linkBatch(run1, links))).toEqual({
      inserted: 2, updated: 0, unchanged: 0, deleted: 0, migrated: 2, rowsOut: 2, rejects: [],
    });
    const [l1, l2] = [links[0]!.sourceId, links[1]!.sourceId];
    const milestone = dataRecord('KpiMilestone', uuid(100, 0x3333), [l1, l2]);
    const actual = dataRecord('KpiActual', uuid(200, 0x3333), [l1]);
    expect(await writeBatch(db.sql, dataBatch(run1, 'KpiMilestone', [milestone]))).toMatchObject({ inserted: 2, migrated: 1, rowsOut: 2 });
    expect(await writeBatch(db.sql, dataBatch(run1, 'KpiActual', [actual]))).toMatchObject({ inserted: 1, migrated: 1, rowsOut: 1 });
    expect(await dataRow(uuid(100, 0x3333))).toMatchObject({ source_entity: 'KpiMilestone', post_value: '42.10', first_run_id: run1, last_run_id: run1 });

    const run2 = await newRun(db.sql);
    expect(await writeBatch(db.sql, linkBatch(run2, links))).toEqual({
      inserted: 0, updated: 0, unchanged: 2, deleted: 0, migrated: 2, rowsOut: 2, rejects: [],
    });
    expect(await writeBatch(db.sql, dataBatch(run2, 'KpiMilestone', [milestone]))).toMatchObject({ inserted: 0, updated: 0, unchanged: 2 });
    expect(await writeBatch(db.sql, dataBatch(run2, 'KpiActual', [actual]))).toMatchObject({ inserted: 0, updated: 0, unchanged: 1 });
    // An unchanged row is not rewritten, so it still names the run that last changed it.
    expect(await dataRow(uuid(100, 0x3333))).toMatchObject({ first_run_id: run1, last_run_id: run1 });
    expect(await count(db.sql, 'select 1 from kpi_migrate.row_history where run_id = $1', [run2])).toBe(0);
    const counts = await runCounts(db.sql, run2);
    expect(counts.entities.KpiMilestone).toMatchObject({ read: 1, migrated: 1, rejected: 0, rowsOut: 2, inserted: 0, updated: 0, unchanged: 2 });
  });

  it('updates a changed row, keeps its old image in row_history and advances only last_run_id', async () => {
    const [l1, l2] = await givenLinks(10);
    const id = uuid(300, 0x3333);
    const run1 = await newRun(db.sql);
    await writeBatch(db.sql, dataBatch(run1, 'KpiActual', [dataRecord('KpiActual', id, [l1, l2])]));

    const run2 = await newRun(db.sql);
    const changed = dataRecord('KpiActual', id, [l1, l2]);
    changed.rows[0]!.post_value = '43.5';
    expect(await writeBatch(db.sql, dataBatch(run2, 'KpiActual', [changed]))).toMatchObject({ inserted: 0, updated: 1, unchanged: 1 });
    expect(await dataRow(id)).toMatchObject({ post_value: '43.5', first_run_id: run1, last_run_id: run2 });
    const history = await db.sql.query<{ row_id: string; operation: string; post_value: string; last_run_id: string }>(
      `select row_id::text as row_id, operation, old_row->>'post_value' as post_value, old_row->>'last_run_id' as last_run_id
       from kpi_migrate.row_history where run_id = $1`,
      [run2],
    );
    expect(history.rows).toEqual([{ row_id: id, operation: 'update', post_value: '42.10', last_run_id: run1 }]);

    // The digits are the data: 43.5 → 43.50 is equal as a numeric, but it is a change.
    const run3 = await newRun(db.sql);
    changed.rows[0]!.post_value = '43.50';
    expect(await writeBatch(db.sql, dataBatch(run3, 'KpiActual', [changed]))).toMatchObject({ updated: 1, unchanged: 1 });
    expect(await dataRow(id)).toMatchObject({ post_value: '43.50', last_run_id: run3 });
  });

  it('removes a fan-out row its record no longer produces, keeping its image', async () => {
    const [l1, l2] = await givenLinks(20);
    const id = uuid(400, 0x3333);
    const run1 = await newRun(db.sql);
    const both = dataRecord('KpiReading', id, [l1, l2]);
    await writeBatch(db.sql, dataBatch(run1, 'KpiReading', [both]));
    const droppedId = both.rows[1]!.id;

    const run2 = await newRun(db.sql);
    const outcome = await writeBatch(db.sql, dataBatch(run2, 'KpiReading', [dataRecord('KpiReading', id, [l1])]));
    expect(outcome).toMatchObject({ inserted: 0, updated: 0, unchanged: 1, deleted: 1, migrated: 1, rowsOut: 1 });
    expect(await dataRow(droppedId)).toBeUndefined();
    const history = await db.sql.query<{ operation: string; kpi_link_id: string }>(
      `select operation, old_row->>'kpi_link_id' as kpi_link_id from kpi_migrate.row_history where run_id = $1 and row_id = $2`,
      [run2, droppedId],
    );
    expect(history.rows).toEqual([{ operation: 'delete', kpi_link_id: l2 }]);
    expect((await runCounts(db.sql, run2)).entities.KpiReading).toMatchObject({ deleted: 1 });
  });

  it('rejects the one record whose text holds a NUL byte as db_error, and loads the rest', async () => {
    const [l1] = await givenLinks(30);
    const run = await newRun(db.sql);
    const records = [1, 2, 3, 4, 5].map((n) => dataRecord('KpiActual', uuid(500 + n, 0x3333), [l1]));
    records[2]!.rows[0]!.label = 'bad\u0000label';
    records[2]!.item.Label = 'bad\u0000label';
    const outcome = await writeBatch(db.sql, dataBatch(run, 'KpiActual', records));

    expect(outcome).toMatchObject({ inserted: 4, migrated: 4, rowsOut: 4 });
    expect(outcome.rejects).toHaveLength(1);
    expect(outcome.rejects[0]).toMatchObject({ reason: 'db_error', sourceId: uuid(503, 0x3333), sqlstate: '22021' });
    expect(outcome.rejects[0]!.message).toMatch(/PostgreSQL refused this record's rows \[22021\]: invalid byte sequence/);
    expect(await count(db.sql, 'select 1 from public.kpi_data where last_run_id = $1', [run])).toBe(4);
    expect(await dataRow(uuid(503, 0x3333))).toBeUndefined();

    // The raw item cannot go into jsonb with its NUL: it is stored with the NUL spelled out, and the message says so.
    const [stored] = await listRejects(db.sql, { runId: run, limit: 10 });
    expect(stored).toMatchObject({ reason: 'db_error', sqlstate: '22021', sourceEntity: 'KpiActual' });
    expect(JSON.parse(stored!.itemJson)).toMatchObject({ Label: 'bad\\u0000label', Value: 42.1 });
    expect(stored!.itemJson).toContain('42.10');
    expect(stored!.message).toContain('stored item: characters jsonb cannot hold (U+0000');
    expect((await runCounts(db.sql, run)).entities.KpiActual).toMatchObject({
      read: 5, migrated: 4, rejected: 1, rowsOut: 4, rejectsByReason: { db_error: 1 },
    });
  });

  it('rejects every record holding a NUL byte, wherever it is, in the words the database refused the first with', async () => {
    const [l1, l2] = await givenLinks(32);
    const run = await newRun(db.sql);
    const records = [1, 2, 3, 4, 5, 6].map((n) => dataRecord('KpiActual', uuid(520 + n, 0x3333), n === 4 ? [l1, l2] : [l1]));
    records[0]!.rows[0]!.label = 'a\u0000';
    records[3]!.rows[1]!.override_comment = '\u0000b';
    records[5]!.rows[0]!.recorded_by = '\u0000';
    const outcome = await writeBatch(db.sql, dataBatch(run, 'KpiActual', records));

    expect(outcome).toMatchObject({ inserted: 3, migrated: 3, rowsOut: 3 });
    expect(outcome.rejects.map((reject) => [reject.sourceId, reject.reason, reject.sqlstate, reject.message])).toEqual(
      [[521, 1], [524, 2], [526, 1]].map(([n, rows]) => [
        uuid(n!, 0x3333),
        'db_error',
        '22021',
        `PostgreSQL refused this record's rows [22021]: invalid byte sequence for encoding "UTF8": 0x00; none of its ${rows} row(s) were loaded`,
      ]),
    );
    expect(await count(db.sql, 'select 1 from public.kpi_data where last_run_id = $1', [run])).toBe(3);
  });

  it('rejects the one record whose link does not exist as db_error with the foreign key SQLSTATE', async () => {
    const [l1] = await givenLinks(40);
    const run = await newRun(db.sql);
    const records = [1, 2, 3].map((n) => dataRecord('KpiMilestone', uuid(600 + n, 0x3333), [l1]));
    const missingLink = uuid(999, 0x1111);
    records[1] = dataRecord('KpiMilestone', uuid(602, 0x3333), [l1, missingLink]);
    const outcome = await writeBatch(db.sql, dataBatch(run, 'KpiMilestone', records));

    expect(outcome).toMatchObject({ inserted: 2, migrated: 2, rowsOut: 2 });
    expect(outcome.rejects).toEqual([
      expect.objectContaining({ reason: 'db_error', sourceId: uuid(602, 0x3333), sqlstate: '23503' }),
    ]);
    expect(outcome.rejects[0]!.message).toContain(missingLink);
    expect(outcome.rejects[0]!.message).toContain('none of its 2 row(s) were loaded');
    // The refused record's other row (with a valid link) did not load either.
    expect(await dataRow(uuid(602, 0x3333))).toBeUndefined();
    expect(await count(db.sql, 'select 1 from public.kpi_data where last_run_id = $1', [run])).toBe(2);
  });

  it('isolates several refused records in a larger batch', async () => {
    const [l1] = await givenLinks(50);
    const run = await newRun(db.sql);
    const records = Array.from({ length: 40 }, (_, n) => dataRecord('KpiReading', uuid(700 + n, 0x3333), [l1]));
    records[3]!.rows[0]!.override_comment = '\u0000';
    records[17]!.rows[0]!.post_value = 'not a number';
    records[38]!.rows[0]!.confidence_level = 9; // violates the check constraint (1–5)
    const outcome = await writeBatch(db.sql, dataBatch(run, 'KpiReading', records));
    expect(outcome).toMatchObject({ inserted: 37, migrated: 37, rowsOut: 37 });
    expect(outcome.rejects.map((r) => [r.sourceId, r.sqlstate])).toEqual([
      [uuid(703, 0x3333), '22021'],
      [uuid(717, 0x3333), '22P02'],
      [uuid(738, 0x3333), '23514'],
    ]);
  });

  it('refuses, without sending it, a record whose text has no UTF-8 form', async () => {
    const [l1] = await givenLinks(60);
    const run = await newRun(db.sql);
    const records = [1, 2].map((n) => dataRecord('KpiActual', uuid(800 + n, 0x3333), [l1]));
    records[0]!.rows[0]!.label = 'half a pair \uD83C';
    const outcome = await writeBatch(db.sql, dataBatch(run, 'KpiActual', records));
    expect(outcome).toMatchObject({ inserted: 1, migrated: 1 });
    expect(outcome.rejects).toEqual([expect.objectContaining({ reason: 'db_error', sourceId: uuid(801, 0x3333) })]);
    expect(outcome.rejects[0]!.message).toMatch(/column label holds an unpaired UTF-16 surrogate/);
  });

  describe('id_conflict', () => {
    it('rejects an actual whole when a milestone of an earlier batch holds its row id, and again on a re-run', async () => {
      const [l1, l2] = await givenLinks(70);
      const sharedId = uuid(900, 0x3333);
      const milestone = dataRecord('KpiMilestone', sharedId, [l1]);
      const actual = dataRecord('KpiActual', sharedId, [l1, l2], { post_value: '1' });
      const fanOutId = actual.rows[1]!.id;

      for (const expectedMilestone of [{ inserted: 1 }, { unchanged: 1 }]) {
        const run = await newRun(db.sql);
        expect(await writeBatch(db.sql, dataBatch(run, 'KpiMilestone', [milestone]))).toMatchObject(expectedMilestone);
        const outcome = await writeBatch(db.sql, dataBatch(run, 'KpiActual', [actual]));
        expect(outcome).toMatchObject({ inserted: 0, updated: 0, unchanged: 0, migrated: 0, rowsOut: 0 });
        expect(outcome.rejects).toEqual([expect.objectContaining({ reason: 'id_conflict', sourceEntity: 'KpiActual', sourceId: sharedId, attribute: 'Id' })]);
        expect(outcome.rejects[0]!.message).toContain(`already belongs to KpiMilestone ${sharedId}`);
        expect(outcome.rejects[0]!.message).toContain("none of this record's 2 row(s) were loaded");
        expect(await dataRow(sharedId)).toMatchObject({ source_entity: 'KpiMilestone', post_value: '42.10' });
        expect(await dataRow(fanOutId)).toBeUndefined();
        expect((await runCounts(db.sql, run)).entities.KpiActual).toMatchObject({ read: 1, migrated: 0, rejected: 1, rejectsByReason: { id_conflict: 1 } });
      }
    });

    it('within one batch, the lower Id keeps a row two spellings of one GUID produce, whatever the order', async () => {
      const [l1, l2] = await givenLinks(80);
      const braced = '{0000BBBB-0000-4000-8000-00000000CAFE}';
      const plain = '0000bbbb-0000-4000-8000-00000000cafe';
      const bracedRecord = dataRecord('KpiActual', braced, [l1, l2]);
      const plainRecord = dataRecord('KpiActual', plain, [l1]);

      const dryRun = await newRun(db.sql);
      const inReadOrder = await writeBatch(db.sql, dataBatch(dryRun, 'KpiActual', [bracedRecord, plainRecord], { dryRun: true }));
      const run = await newRun(db.sql);
      const reversed = await writeBatch(db.sql, dataBatch(run, 'KpiActual', [plainRecord, bracedRecord]));
      for (const outcome of [inReadOrder, reversed]) {
        expect(outcome).toMatchObject({ inserted: 1, migrated: 1, rowsOut: 1 });
        expect(outcome.rejects).toEqual([expect.objectContaining({ reason: 'id_conflict', sourceId: braced })]);
        expect(outcome.rejects[0]!.message).toContain(`also produced by KpiActual ${plain} in the same batch`);
      }
      expect(await dataRow(plain)).toMatchObject({ source_id: plain });
      expect(await dataRow(bracedRecord.rows[1]!.id)).toBeUndefined();
    });

    it('a row already in the target keeps its holder, even against an entity of precedence', async () => {
      // Holder-keeps is what makes re-runs stable; in a normal run milestones load before actuals.
      const [l1] = await givenLinks(90);
      const sharedId = uuid(950, 0x3333);
      const run = await newRun(db.sql);
      await writeBatch(db.sql, dataBatch(run, 'KpiActual', [dataRecord('KpiActual', sharedId, [l1])]));
      const outcome = await writeBatch(db.sql, dataBatch(run, 'KpiMilestone', [dataRecord('KpiMilestone', sharedId, [l1])]));
      expect(outcome.rejects).toEqual([expect.objectContaining({ reason: 'id_conflict', sourceEntity: 'KpiMilestone' })]);
      expect(await dataRow(sharedId)).toMatchObject({ source_entity: 'KpiActual' });
    });

    it('rejects a second copy of the same record in one batch', async () => {
      const [l1] = await givenLinks(95);
      const run = await newRun(db.sql);
      const record = dataRecord('KpiReading', uuid(960, 0x3333), [l1]);
      const outcome = await writeBatch(db.sql, dataBatch(run, 'KpiReading', [record, record]));
      expect(outcome).toMatchObject({ inserted: 1, migrated: 1 });
      expect(outcome.rejects).toEqual([expect.objectContaining({ reason: 'id_conflict', sourceId: uuid(960, 0x3333) })]);
      expect(outcome.rejects[0]!.message).toContain('was read twice in this batch');
    });
  });

  describe('one transaction', () => {
    const mappingReject = (sourceId: string): Reject => ({
      sourceEntity: 'KpiActual',
      sourceId,
      reason: 'missing_field',
      attribute: 'ActualValue',
      message: 'ActualValue is missing',
      item: { Id: sourceId },
    });

    async function nothingWritten(run: string, ids: string[]): Promise<void> {
      expect(await count(db.sql, 'select 1 from public.kpi_data where id = any($1::uuid[])', [`{${ids.join(',')}}`])).toBe(0);
      expect(await count(db.sql, 'select 1 from kpi_migrate.rejects where run_id = $1', [run])).toBe(0);
      expect(await count(db.sql, 'select 1 from kpi_migrate.checkpoints where run_id = $1', [run])).toBe(0);
      expect(await count(db.sql, 'select 1 from kpi_migrate.run_counts where run_id = $1', [run])).toBe(0);
      expect(await count(db.sql, 'select 1 from kpi_migrate.row_history where run_id = $1', [run])).toBe(0);
    }

    it('a checkpoint that cannot be stored, written after the rows and rejects, leaves nothing behind', async () => {
      const [l1] = await givenLinks(100);
      const run = await newRun(db.sql);
      const ids = [uuid(1001, 0x3333), uuid(1002, 0x3333)];
      const records = ids.map((id) => dataRecord('KpiActual', id, [l1]));
      records[1]!.rows[0]!.label = '\u0000';
      const batch = dataBatch(run, 'KpiActual', records, {
        mappingRejects: [mappingReject('missing-value')],
        checkpoints: [{ partition: 'segment-0-of-1', position: { LastEvaluatedKey: 12n }, done: false }],
      });
      const failure = await writeBatch(db.sql, batch).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(MigrateError);
      expect(failure).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/checkpoint of KpiActual partition segment-0-of-1 is not JSON/) });
      await nothingWritten(run, ids);
    });

    it('a failure in its last statement (the run counts) leaves neither rows, rejects nor checkpoint; the retry commits all', async () => {
      const [l1] = await givenLinks(110);
      const run = await newRun(db.sql);
      const ids = [uuid(1101, 0x3333), uuid(1102, 0x3333)];
      const batch = dataBatch(run, 'KpiActual', ids.map((id) => dataRecord('KpiActual', id, [l1])), {
        mappingRejects: [mappingReject('missing-value')],
      });
      await db.sql.exec(`
        create function kpi_migrate.test_injected_failure() returns trigger language plpgsql as $$
          begin raise exception 'injected failure'; end $$;
        create trigger test_injected_failure before insert or update on kpi_migrate.run_counts
          for each row execute function kpi_migrate.test_injected_failure();`);
      try {
        await expect(writeBatch(db.sql, batch)).rejects.toMatchObject({ name: 'MigrateError', message: expect.stringContaining('injected failure') });
        await nothingWritten(run, ids);
      } finally {
        await db.sql.exec(`drop trigger test_injected_failure on kpi_migrate.run_counts; drop function kpi_migrate.test_injected_failure();`);
      }
      expect(await writeBatch(db.sql, batch)).toMatchObject({ inserted: 2, migrated: 2 });
      expect(await loadCheckpoints(db.sql, run, 'KpiActual')).toEqual({ 'segment-0-of-1': { position: { Id: { S: 'last' } }, done: false } });
      expect((await runCounts(db.sql, run)).entities.KpiActual).toMatchObject({ read: 3, migrated: 2, rejected: 1 });
    });

    it('a dry run counts everything and leaves nothing', async () => {
      const [l1] = await givenLinks(120);
      const run = await newRun(db.sql, true);
      const ids = [uuid(1201, 0x3333), uuid(1202, 0x3333), uuid(1203, 0x3333)];
      const records = ids.map((id) => dataRecord('KpiActual', id, [l1]));
      records[2]!.rows[0]!.kpi_link_id = uuid(998, 0x1111);
      const outcome = await writeBatch(db.sql, dataBatch(run, 'KpiActual', records, { mappingRejects: [mappingReject('x')], dryRun: true }));
      expect(outcome).toMatchObject({ inserted: 2, updated: 0, unchanged: 0, migrated: 2, rowsOut: 2 });
      expect(outcome.rejects.map((r) => r.reason)).toEqual(['missing_field', 'db_error']);
      await nothingWritten(run, ids);
    });
  });

  it('advances checkpoints per partition and adds counts batch after batch', async () => {
    const [l1] = await givenLinks(130);
    const run = await newRun(db.sql);
    const record = (n: number) => dataRecord('KpiMilestone', uuid(1300 + n, 0x3333), [l1]);
    await writeBatch(db.sql, dataBatch(run, 'KpiMilestone', [record(1)], {
      skipped: 2,
      read: 3,
      checkpoints: [
        { partition: 'segment-0-of-2', position: { Id: { S: 'a' } }, done: false },
        { partition: 'segment-1-of-2', position: { Id: { S: 'b' } }, done: false },
      ],
    }));
    await writeBatch(db.sql, dataBatch(run, 'KpiMilestone', [record(2), record(3)], {
      checkpoints: [{ partition: 'segment-0-of-2', position: null, done: true }],
    }));
    expect(await loadCheckpoints(db.sql, run, 'KpiMilestone')).toEqual({
      'segment-0-of-2': { position: null, done: true },
      'segment-1-of-2': { position: { Id: { S: 'b' } }, done: false },
    });
    expect(await loadCheckpoints(db.sql, run, 'KpiActual')).toEqual({});
    expect((await runCounts(db.sql, run)).entities.KpiMilestone).toEqual({
      read: 5, migrated: 3, rejected: 0, skipped: 2, rowsOut: 3, inserted: 3, updated: 0, unchanged: 0, deleted: 0, personFallbacks: 0, rejectsByReason: {},
    });
  });

  describe('refuses a batch that cannot be right', () => {
    it('when read ≠ mapped + rejected + skipped', async () => {
      const run = await newRun(db.sql);
      await expect(writeBatch(db.sql, linkBatch(run, [linkRecord(140)], { read: 2 }))).rejects.toMatchObject({ code: 'INTERNAL' });
    });

    it('when a row does not come from its record', async () => {
      const run = await newRun(db.sql);
      const record = linkRecord(141);
      record.sourceId = 'something else';
      await expect(writeBatch(db.sql, linkBatch(run, [record]))).rejects.toMatchObject({ code: 'INTERNAL' });
    });

    it('when the run is not running, or does not exist (any more): another process changed it mid-run', async () => {
      const run = await newRun(db.sql);
      await finishRun(db.sql, run, 'completed');
      await expect(writeBatch(db.sql, linkBatch(run, [linkRecord(142)]))).rejects.toMatchObject({ code: 'RUN_CHANGED', message: `run ${run} is completed: it takes no more batches` });
      await expect(writeBatch(db.sql, linkBatch('987654', [linkRecord(142)]))).rejects.toMatchObject({ code: 'RUN_CHANGED', message: 'run 987654 does not exist (any more)' });
      expect(await count(db.sql, 'select 1 from public.kpi_links where id = $1', [uuid(142, 0x1111)])).toBe(0);
    });
  });
});

describe('a batch’s commit', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  // The connection's own setting is what the run's end commits with: a server of the test run is needed to hold one connection.
  it.runIf(usesRealPostgres())('does not wait for the disk, and leaves the connection as it found it (the run’s end commits the default way)', async () => {
    const oneConnection = openPgClient(db.url, 1);
    try {
      const settings: string[] = [];
      const setting = async (session: Pick<SqlClient, 'query'>) =>
        (await session.query<{ setting: string }>("select current_setting('synchronous_commit') as setting")).rows[0]!.setting;
      // The real client, each statement of the batch's transaction followed by a look at the setting it runs under.
      const watched: SqlClient = {
        ...oneConnection,
        transaction: (work) =>
          oneConnection.transaction((session) =>
            work({
              ...session,
              async query<Row>(text: string, params?: readonly unknown[]) {
                const result = await session.query<Row>(text, params);
                settings.push(await setting(session));
                return result;
              },
            }),
          ),
      };
      const run = await newRun(oneConnection);
      expect(await setting(oneConnection)).toBe('on');
      await writeBatchOf(watched, linkBatch(run, [linkRecord(300)]));
      expect(settings.length).toBeGreaterThan(3);
      expect(new Set(settings)).toEqual(new Set(['off']));
      expect(await setting(oneConnection)).toBe('on');
      await finishRun(oneConnection, run, 'completed');
      expect(await count(oneConnection, 'select 1 from public.kpi_links where id = $1', [uuid(300, 0x1111)])).toBe(1);
    } finally {
      await oneConnection.close();
    }
  });
});
