import { LosslessNumber, parse } from 'lossless-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBatch } from '../../src/load/batch-writer.js';
import { listRejects, loadRejectedSourceIds, rejectJsonLine } from '../../src/load/rejects.js';
import { LegacyNumber, LegacySet } from '../../src/model/legacy-value.js';
import type { Reject } from '../../src/model/reject.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { dataBatch, dataRecord, linkBatch, linkRecord, newRun, uuid } from './fixtures.js';

describe('rejects', () => {
  let db: TestDatabase;
  let run1: string;
  let run2: string;
  const exact = '12345678901234567890.123456789012345678';

  beforeAll(async () => {
    db = await createTestDatabase();
    run1 = await newRun(db.sql);
    run2 = await newRun(db.sql);
    const links = [linkRecord(1), linkRecord(2)];
    const linkReject: Reject = {
      sourceEntity: 'GoalKpiLink',
      sourceId: 'link-x',
      reason: 'missing_field',
      attribute: 'KpiId',
      message: 'KpiId is missing',
      item: { Id: 'link-x', Weight: new LegacyNumber(exact), Tags: new LegacySet('SS', ['a', 'b']), Blob: new Uint8Array([1, 2, 3]) },
    };
    await writeBatch(db.sql, linkBatch(run1, links, { mappingRejects: [linkReject] }));
    const clash = linkRecord(1, { source_id: `{${uuid(1, 0x1111).toUpperCase()}}` });
    clash.sourceId = clash.rows[0]!.source_id;
    await writeBatch(db.sql, linkBatch(run2, [clash]));
    const records = [1, 2].map((n) => dataRecord('KpiActual', uuid(10 + n, 0x3333), [links[0]!.sourceId]));
    records[1]!.rows[0]!.kpi_link_id = uuid(99, 0x1111);
    await writeBatch(db.sql, dataBatch(run2, 'KpiActual', records));
  });
  afterAll(async () => db?.drop());

  it('lists every reject oldest first, with run, entity, reason and raw item', async () => {
    const all = await listRejects(db.sql, { limit: 100 });
    expect(all.map((r) => [r.runId, r.sourceEntity, r.reason])).toEqual([
      [run1, 'GoalKpiLink', 'missing_field'],
      [run2, 'GoalKpiLink', 'id_conflict'],
      [run2, 'KpiActual', 'db_error'],
    ]);
    expect(all[0]).toMatchObject({ sourceId: 'link-x', attribute: 'KpiId', message: 'KpiId is missing', sqlstate: null });
    expect(all[2]).toMatchObject({ sqlstate: '23503', sourceId: uuid(12, 0x3333) });
    expect(all[2]!.createdAt).toMatch(/Z$/);
  });

  it('keeps the raw item digit for digit', async () => {
    const [stored] = await listRejects(db.sql, { reason: 'missing_field', limit: 1 });
    const item = parse(stored!.itemJson) as Record<string, unknown>;
    expect(item.Weight).toEqual(new LosslessNumber(exact));
    expect(item.Tags).toEqual(['a', 'b']);
    expect(item.Blob).toBe('AQID');
    const line = parse(rejectJsonLine(stored!)) as Record<string, unknown>;
    expect(line).toMatchObject({ runId: run1, reason: 'missing_field', item: { Id: 'link-x', Weight: new LosslessNumber(exact) } });
    expect(line).not.toHaveProperty('itemJson');
  });

  it('filters by run, reason and entity, and pages with limit and afterId', async () => {
    expect(await listRejects(db.sql, { runId: run2, limit: 100 })).toHaveLength(2);
    expect(await listRejects(db.sql, { runId: run2, entity: 'KpiActual', limit: 100 })).toEqual([expect.objectContaining({ reason: 'db_error' })]);
    expect(await listRejects(db.sql, { reason: 'id_conflict', limit: 100 })).toEqual([expect.objectContaining({ runId: run2 })]);
    const [first] = await listRejects(db.sql, { limit: 1 });
    const rest = await listRejects(db.sql, { limit: 100, afterId: first!.id });
    expect(rest.map((r) => r.reason)).toEqual(['id_conflict', 'db_error']);
  });

  it('refuses a filter that cannot match', async () => {
    await expect(listRejects(db.sql, { reason: 'bogus', limit: 1 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(listRejects(db.sql, { entity: 'Kpis', limit: 1 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(listRejects(db.sql, { runId: 'x', limit: 1 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(listRejects(db.sql, { limit: 0 })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('gives the source ids a run rejected, by entity and reason', async () => {
    expect(await loadRejectedSourceIds(db.sql, run2, 'GoalKpiLink')).toEqual([`{${uuid(1, 0x1111).toUpperCase()}}`]);
    expect(await loadRejectedSourceIds(db.sql, run2, 'KpiActual', ['id_conflict'])).toEqual([]);
    expect(await loadRejectedSourceIds(db.sql, run1, 'GoalKpiLink')).toEqual(['link-x']);
  });
});
