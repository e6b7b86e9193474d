import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBatch } from '../../src/load/batch-writer.js';
import { claimsOf, encodeRecords, rowIdsLiteralOf, sourceIdsLiteralOf } from '../../src/load/encoded-records.js';
import { prepareRecord, type PreparedRecord } from '../../src/load/prepare-record.js';
import { listRejects } from '../../src/load/rejects.js';
import type { DataEntity } from '../../src/model/entities.js';
import type { KpiDataRow } from '../../src/model/rows.js';
import type { RecordRows } from '../../src/load/prepare-record.js';
import { batchFromWire, batchToWire } from '../../src/pipeline/worker-wire.js';
import type { MappedBatch } from '../../src/pipeline/record-reader.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { openPgliteClient } from '../../src/db/pglite-client.js';
import { applyMigrations } from '../../src/load/migrate.js';
import { count, dataBatch, dataRecord, linkBatch, linkRecord, newRun, uuid } from './fixtures.js';

function record(sourceId: string, rowIds: string[]): PreparedRecord {
  return { sourceId, rowIds, copyText: '', item: async () => ({ Id: sourceId }) };
}

/** PGlite too: its COPY reads the bytes from a Blob, not a socket. */
async function embeddedDatabase(): Promise<TestDatabase> {
  const sql = await openPgliteClient();
  await applyMigrations(sql);
  return { url: 'pglite://memory', sql, drop: () => sql.close() };
}

describe.each([
  ['the test database', () => createTestDatabase()],
  ['PGlite', embeddedDatabase],
])('encoded records, on %s', (_, open) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await open();
  }, 60_000);
  afterAll(async () => db?.drop());

  /** The literals as PostgreSQL reads them. */
  async function read(rowIds: string, sourceIds: string): Promise<{ rowIds: string[]; sourceIds: string[] }> {
    const { rows } = await db.sql.query<{ r: string; s: string }>('select to_json($1::uuid[])::text as r, to_json($2::text[])::text as s', [rowIds, sourceIds]);
    return { rowIds: JSON.parse(rows[0]!.r) as string[], sourceIds: JSON.parse(rows[0]!.s) as string[] };
  }

  it('give the id_conflict probe every canonical row id beside its source id, whatever the source ids hold', async () => {
    const batches: PreparedRecord[][] = [
      [record(uuid(1), [uuid(1)]), record(uuid(2), [uuid(2)])],
      [record('{AB, "cd"}', [uuid(3), uuid(4)]), record('NULL', [uuid(5)]), record(' spaced \\ ', [uuid(6)]), record('', [uuid(7)])],
      [record(`{${uuid(8)}}`, [uuid(8), uuid(9)]), record('has\u0000nul', [uuid(10)]), record('odd', ['not-a-uuid', uuid(11)]), record('none', [])],
      // As many rows as records, but not one each.
      [record('no rows', []), record('two rows', [uuid(12), uuid(13)])],
    ];
    for (const records of batches) {
      const expected = { rowIds: [] as string[], sourceIds: [] as string[] };
      for (const { sourceId, rowIds } of records) {
        if (sourceId.includes('\u0000')) continue;
        for (const rowId of rowIds.filter((id) => /^[0-9a-f-]{36}$/.test(id))) {
          expected.rowIds.push(rowId);
          expected.sourceIds.push(sourceId);
        }
      }
      const encoded = encodeRecords(records);
      const claims = claimsOf(encoded)!;
      expect(await read(claims.rowIds, claims.sourceIds)).toEqual(expected);
      const all = records.map((_, index) => index);
      const some = all.filter((index) => index % 2 === 1);
      for (const indexes of [all, some]) {
        const sourceIds = indexes.map((index) => records[index]!.sourceId).filter((id) => !id.includes('\u0000'));
        const rowIds = indexes.flatMap((index) => records[index]!.rowIds.filter((id) => /^[0-9a-f-]{36}$/.test(id)));
        expect(await read(rowIdsLiteralOf(encoded, indexes) ?? '{}', sourceIdsLiteralOf(encoded, indexes) ?? '{}')).toEqual({ rowIds, sourceIds });
      }
    }
    expect(claimsOf(encodeRecords([record('x\u0000', [uuid(1)]), record('y', ['odd'])]))).toBeUndefined();
  });

  it('load from the bytes that crossed from the reading thread: refused records isolated, U+0000 apart, text exact', async () => {
    const linkRun = await newRun(db.sql);
    const links = [linkRecord(10), linkRecord(11)];
    await writeBatch(db.sql, linkBatch(linkRun, links));
    const [l1, l2] = [links[0]!.sourceId, links[1]!.sourceId];
    const run = await newRun(db.sql);
    const entity: DataEntity = 'KpiActual';
    const sources: RecordRows<KpiDataRow>[] = Array.from({ length: 30 }, (_, n) => dataRecord(entity, uuid(100 + n, 0x4444), n % 3 === 0 ? [l1, l2] : [l1]));
    sources[4]!.rows[0]!.label = 'NUL \u0000 inside';
    sources[9] = dataRecord(entity, uuid(109, 0x4444), [l1, uuid(999, 0x1111)]);
    sources[20]!.rows[0]!.post_value = 'not a number';
    sources[25]!.rows[0]!.label = 'café, 漢字, 📈';
    const records = sources.map((source) => {
      const outcome = prepareRecord(entity, source, run);
      if (!outcome.ok) throw new Error('fixture record not preparable');
      return outcome.record;
    });
    const mapped: MappedBatch = {
      read: records.length,
      skipped: 0,
      personFallbacks: 0,
      prepared: { runId: run, records, encodingRejects: [] },
      mappingRejects: [],
      checkpoints: [],
    };
    const { wire, transfer } = await batchToWire(mapped, 1);
    const asked: number[] = [];
    const batch = batchFromWire(structuredClone(wire, { transfer }), async (index) => {
      asked.push(index);
      return sources[index]!.item;
    });
    const outcome = await writeBatch(db.sql, { ...dataBatch(run, entity, []), data: undefined, prepared: batch.prepared, read: records.length });

    expect(outcome.rejects.map((reject) => [reject.sourceId, reject.reason, reject.sqlstate])).toEqual([
      [uuid(104, 0x4444), 'db_error', '22021'],
      [uuid(109, 0x4444), 'db_error', '23503'],
      [uuid(120, 0x4444), 'db_error', '22P02'],
    ]);
    const rows = sources.filter((_, n) => ![4, 9, 20].includes(n)).reduce((total, source) => total + source.rows.length, 0);
    expect(outcome).toMatchObject({ inserted: rows, migrated: 27, rowsOut: rows });
    // Only the items of refused records were fetched, and not the suspect's: it came with the batch.
    expect(asked.sort((a, b) => a - b)).toEqual([9, 20]);
    expect((await listRejects(db.sql, { runId: run, limit: 10 })).map((reject) => JSON.parse(reject.itemJson).Id)).toEqual(
      [104, 109, 120].map((n) => uuid(n, 0x4444)),
    );
    expect(await count(db.sql, 'select 1 from public.kpi_data where last_run_id = $1', [run])).toBe(rows);
    const { rows: stored } = await db.sql.query<{ label: string }>('select label from public.kpi_data where id = $1', [uuid(125, 0x4444)]);
    expect(stored[0]!.label).toBe('café, 漢字, 📈');

    // Written again in a new run, from a second crossing: nothing changes, and a twin read twice loses.
    const rerun = await newRun(db.sql);
    const again = records.map((prepared) => ({ ...prepared, copyText: prepared.copyText.replaceAll(`\t${run}\t${run}\n`, `\t${rerun}\t${rerun}\n`) }));
    again.push(again[0]!);
    const second = await batchToWire({ ...mapped, read: again.length, prepared: { runId: rerun, records: again, encodingRejects: [] } }, 2);
    const rebatch = batchFromWire(structuredClone(second.wire, { transfer: second.transfer }), async (index) => sources[index % 30]!.item);
    const rewritten = await writeBatch(db.sql, { ...dataBatch(rerun, entity, []), data: undefined, prepared: rebatch.prepared, read: again.length });
    expect(rewritten).toMatchObject({ inserted: 0, updated: 0, unchanged: rows, migrated: 27 });
    expect(rewritten.rejects.map((reject) => [reject.sourceId, reject.reason])).toEqual([
      [uuid(100, 0x4444), 'id_conflict'],
      [uuid(104, 0x4444), 'db_error'],
      [uuid(109, 0x4444), 'db_error'],
      [uuid(120, 0x4444), 'db_error'],
    ]);
  });
});
