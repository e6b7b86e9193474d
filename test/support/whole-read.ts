// A whole read of a source through the record reader, everything its batches say, with the
// fast path (typed pages) and without it: the two must be equal (test/transform/fast-path.test.ts).
import type { LegacySource } from '../../src/model/source.js';
import { MIGRATED_ENTITIES } from '../../src/model/entities.js';
import { createRecordReader, type MappedBatch } from '../../src/pipeline/record-reader.js';

export const RUN_ID = '7';

/** Everything a reader's batches say, in order, with each record's item. */
export async function readAll(source: LegacySource): Promise<unknown[]> {
  const reader = createRecordReader({ source, wholeTables: source, batchRows: 50 });
  const out: unknown[] = [await reader.readLookups(() => {})];
  for (const entity of MIGRATED_ENTITIES) {
    for await (const batch of reader.batches(entity, {}, { indexLinks: entity === 'GoalKpiLink', runId: RUN_ID })) out.push(entity, await describeBatch(batch));
  }
  return out;
}

async function describeBatch(batch: MappedBatch): Promise<unknown> {
  const records = [];
  for (const record of batch.prepared.records) {
    records.push({ sourceId: record.sourceId, rowIds: record.rowIds, copyText: record.copyText, item: await record.item(), exportLine: (record as { exportLine?: string }).exportLine });
  }
  return {
    read: batch.read,
    skipped: batch.skipped,
    personFallbacks: batch.personFallbacks,
    checkpoints: batch.checkpoints,
    records,
    encodingRejects: batch.prepared.encodingRejects,
    mappingRejects: batch.mappingRejects,
  };
}

/** The source without its typed pages: every record goes the full way. */
export function fullPathOnly(source: LegacySource): LegacySource {
  return { kind: source.kind, readTable: source.readTable, countItems: source.countItems, getItems: source.getItems, close: source.close };
}

