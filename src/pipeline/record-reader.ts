import type { LegacySource, NextRead, ResumeState, SourcePage, TypedSourcePage } from '../model/source.js';
import { exportLineOf, itemOfExportLine } from '../extract/export-source.js';
import type { CheckpointAdvance } from '../load/batch-writer.js';
import { addFannedRecord, prepareRecord, runColumnsOf, type PreparedBatch, type PreparedRecord, type RunColumns } from '../load/prepare-record.js';
import { EncodedRecordsBuilder, encodedBatch } from '../load/encoded-records.js';
import {
  LinkIndex,
  LinkLookups,
  canonicalTenantOf,
  fannedRowIds,
  fastDataRecord,
  mapGoalKpiLink,
  mapKpiActual,
  mapKpiMilestone,
  mapKpiReading,
  migratedLinkOf,
  fastLinkRecord,
  type FlatLinkRecord,
  type DataEntity,
  type TypedDataRecord,
  type LegacyItem,
  type MigratedEntity,
  type Reject,
  type RejectReason,
} from '../transform/index.js';
import type { KpiDataRow, KpiLinkRow } from '../model/rows.js';
import { FlatItem } from '../model/dynamodb-json.js';
import { readLinkIndex, readLinkLookups, type LookupOutcome } from '../reading/lookups.js';
import { newProgress, type EntityProgress } from './progress.js';

/** One transaction's worth of an entity, mapped and encoded: what the writer needs, nothing more. */
export interface MappedBatch {
  read: number;
  skipped: number;
  personFallbacks: number;
  prepared: PreparedBatch;
  mappingRejects: Reject[];
  /** Where each partition stands once this batch is committed. */
  checkpoints: CheckpointAdvance[];
  /** Called once the batch is written: its records' items are not asked for any more. */
  written?(): void;
  /** Where the batch's records' items come from, in the thread that read them. */
  recordItems?: RecordItems;
}

/**
 * The items of a batch's records, kept for the few the writer asks for (rejected, contested): an
 * export record keeps its line, a fifth of its parsed item; another keeps how to get its item.
 */
export class RecordItems {
  readonly #lines: (string | undefined)[] = [];
  readonly #items: (LegacyItem | (() => LegacyItem) | undefined)[] = [];

  add(item: LegacyItem | (() => LegacyItem), line: string | undefined): void {
    this.#lines.push(line);
    this.#items.push(line === undefined ? item : undefined);
  }

  /** Record i's export line, when it came from one. */
  line(index: number): string | undefined {
    return this.#lines[index];
  }

  item(index: number): LegacyItem {
    const line = this.#lines[index];
    if (line !== undefined) return itemOfExportLine(line);
    const kept = this.#items[index];
    if (kept === undefined) throw new Error(`no record ${index} in this batch`);
    return typeof kept === 'function' ? kept() : kept;
  }
}

export type { LookupOutcome };

export type ReaderProgress = (progress: EntityProgress & { rejectsByReason?: Partial<Record<RejectReason, number>> }) => void;

/**
 * The read side of a run, extract and transform: lookups, the link index, and each entity's
 * records as batches ready to load. The link index lives here, next to the mapping that uses it.
 */
export interface RecordReader {
  /**
   * Reads the KPIs and people whole into the lookups. First, once. `next`: what `batches` reads
   * after them (its first pages may be asked for meanwhile), unless startLookups began the read.
   */
  readLookups(progress: ReaderProgress, next?: NextRead): Promise<LookupOutcome[]>;
  /**
   * Begins readLookups' read now, for a reader whose reading runs beside its caller (another
   * thread): the caller meanwhile sets up the run, and readLookups then waits for this read. Its
   * progress is kept for readLookups' sink. Where absent, readLookups reads when asked.
   */
  startLookups?(): void;
  /** Reads the links whole into the index, for a run whose link loading will not read them all. */
  indexLinks(progress: ReaderProgress): Promise<void>;
  /**
   * The entity's records from `from` on, in batches of about `batchRows` rows of whole pages.
   * With `indexLinks`, every mapped link also goes into the index (loading reads them all).
   * The rows' COPY text names `runId` as their first and last run. `whenRead` is called once the
   * last page is read and mapped, before its batches are all taken: the reader is free from then on.
   * `next` names what is read after this entity (its first pages may be asked for meanwhile).
   */
  batches(entity: MigratedEntity, from: ResumeState, options: BatchesOptions): AsyncIterable<MappedBatch>;
  /** Links the database refused (id_conflict, db_error): no data row may fan out to them. */
  forgetLinks(sourceIds: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface BatchesOptions {
  indexLinks: boolean;
  runId: string;
  whenRead?: () => void;
  next?: NextRead;
}

export interface RecordReaderOptions {
  /** The records this process loads. */
  source: LegacySource;
  /** Whole tables, for the lookups and the link index (a worker of a shared run reads only its share of `source`). */
  wholeTables: LegacySource;
  /** Canonical tenant GUID: only its records are mapped, the others are counted as skipped. */
  tenant?: string;
  batchRows: number;
}

type Mapping = { ok: true; rows: (KpiLinkRow | KpiDataRow)[]; personFallback?: boolean } | { ok: false; reject: Reject };

const DATA_MAPPERS: Record<DataEntity, (item: LegacyItem, links: LinkIndex) => Mapping> = {
  KpiMilestone: mapKpiMilestone,
  KpiActual: mapKpiActual,
  KpiReading: mapKpiReading,
};

/** Reads and maps in this thread. */
export function createRecordReader(options: RecordReaderOptions): RecordReader {
  const { source, wholeTables, tenant } = options;
  let lookups = new LinkLookups();
  let links = new LinkIndex();
  const outside = (item: LegacyItem): boolean => tenant !== undefined && canonicalTenantOf(item) !== tenant;

  async function* batches(entity: MigratedEntity, from: ResumeState, { indexLinks, runId, whenRead, next }: BatchesOptions): AsyncGenerator<MappedBatch> {
    const map: (item: LegacyItem) => Mapping =
      entity === 'GoalKpiLink'
        ? (item) => {
            const mapped = mapGoalKpiLink(item, lookups);
            if (indexLinks && mapped.ok) for (const row of mapped.rows) links.add(migratedLinkOf(row));
            return mapped;
          }
        : (item) => DATA_MAPPERS[entity](item, links);
    const runColumns = runColumnsOf(runId);
    let batch = emptyBatch(runColumns, 0);
    const takeItem = (item: LegacyItem): void => {
      batch.read += 1;
      if (outside(item)) {
        batch.skipped += 1;
        return;
      }
      const mapped = map(item);
      if (!mapped.ok) {
        batch.mappingRejects.push(mapped.reject);
        return;
      }
      if (mapped.personFallback) batch.personFallbacks += 1;
      const prepared = prepareRecord(entity, { sourceId: mapped.rows[0]?.source_id ?? '', item, rows: mapped.rows }, runId);
      if (prepared.ok) keep(prepared.record, item, exportLineOf(item));
      else batch.encodingRejects.push(prepared.reject);
      batch.rows += mapped.rows.length;
    };
    // Encoded at once: of a record, only bytes wait for the batch.
    const keep = (record: PreparedRecord, item: LegacyItem | (() => LegacyItem), line: string | undefined): void => {
      batch.encoded.add(record.sourceId, record.rowIds, record.copyText);
      batch.items.add(item, line);
    };
    const checkpoint = (page: Omit<SourcePage, 'items'>): void => {
      batch.checkpoints.set(page.partition, { partition: page.partition, position: page.position, done: page.done });
    };
    // A record the fast path vouches for goes from its typed attributes to COPY bytes; any other
    // goes the full way, which decides its reject (the two agree: test/transform/fast-path.test.ts).
    const fastLink = (record: FlatLinkRecord | undefined, item: () => LegacyItem, line: string | undefined): boolean => {
      if (record === undefined) return false;
      if (indexLinks) links.add(record.link);
      const { encoded } = batch;
      encoded.beginRecord(record.sourceId);
      encoded.addRowId(record.rowId);
      encoded.copyText(record.fields);
      encoded.copyText(runColumns.text);
      encoded.endRecord();
      batch.items.add(item, line);
      if (record.personFallback) batch.personFallbacks += 1;
      batch.rows += 1;
      return true;
    };
    const fastData = (record: TypedDataRecord | undefined, item: () => LegacyItem, line: string | undefined): boolean => {
      if (record === undefined) return false;
      const rows = fannedRowIds(entity as DataEntity, record.key, links);
      if (rows.length === 0 || !addFannedRecord(batch.encoded, record.sourceId, record.sharedFields, rows, runColumns)) return false;
      batch.items.add(item, line);
      batch.rows += rows.length;
      return true;
    };
    const flat = new FlatItem();
    const takeTyped = (page: TypedSourcePage, index: number): void => {
      const line = page.line?.(index);
      const item = (): LegacyItem => page.item(index);
      const taken =
        entity === 'GoalKpiLink'
          ? fastLink(fastLinkRecord(page, index, flat, lookups), item, line)
          : fastData(fastDataRecord(entity, page, index, flat), item, line);
      if (taken) batch.read += 1;
      else takeItem(page.item(index));
    };
    const pages: AsyncIterable<SourcePage | TypedSourcePage> =
      tenant === undefined && source.readTypedTable !== undefined ? source.readTypedTable(entity, from, next) : source.readTable(entity, from, next);
    for await (const page of pages) {
      if ('items' in page) for (const item of page.items) takeItem(item);
      else for (let index = 0; index < page.count; index++) takeTyped(page, index);
      checkpoint(page);
      if (batch.rows + batch.mappingRejects.length >= options.batchRows) {
        const done = finished(batch);
        // Read before the batch goes: a thread boundary takes its buffer with it.
        const bytes = done.prepared.encoded!.copyBytes.length;
        yield done;
        batch = emptyBatch(runColumns, bytes);
      }
    }
    whenRead?.();
    if (batch.checkpoints.size > 0) yield finished(batch);
  }

  return {
    async readLookups(progress, next) {
      const startedAt = Date.now();
      const read = await readLinkLookups(wholeTables, {
        // Only where `batches` reads the same source: another would keep the pages it never reads.
        ...(next !== undefined && wholeTables === source ? { next } : {}),
        onProgress: (entity, count, done) => {
          if (!done) progress({ ...newProgress(entity, 'lookup'), startedAt, read: count });
        },
      });
      lookups = read.lookups;
      for (const outcome of read.outcomes) {
        const rejectsByReason: Partial<Record<RejectReason, number>> = {};
        for (const reject of outcome.rejects) rejectsByReason[reject.reason] = (rejectsByReason[reject.reason] ?? 0) + 1;
        progress({ ...newProgress(outcome.entity, 'lookup'), startedAt, read: outcome.read, migrated: outcome.used, rejected: outcome.rejects.length, rejectsByReason, done: true });
      }
      return read.outcomes;
    },
    async indexLinks(progress) {
      let read = 0;
      links = await readLinkIndex(wholeTables, lookups, { ...(tenant === undefined ? {} : { tenant }), onLink: () => (read += 1) });
      progress({ ...newProgress('GoalKpiLink', 'index'), read, done: true });
    },
    batches,
    async forgetLinks(sourceIds) {
      for (const sourceId of sourceIds) links.remove(sourceId);
    },
    async close() {},
  };
}

interface PendingBatch {
  runId: string;
  read: number;
  skipped: number;
  personFallbacks: number;
  rows: number;
  encoded: EncodedRecordsBuilder;
  items: RecordItems;
  encodingRejects: PreparedBatch['encodingRejects'];
  mappingRejects: Reject[];
  checkpoints: Map<string, CheckpointAdvance>;
}

function emptyBatch({ runId }: RunColumns, previousBytes: number): PendingBatch {
  return {
    runId,
    read: 0,
    skipped: 0,
    personFallbacks: 0,
    rows: 0,
    encoded: new EncodedRecordsBuilder(previousBytes + (previousBytes >>> 3)),
    items: new RecordItems(),
    encodingRejects: [],
    mappingRejects: [],
    checkpoints: new Map(),
  };
}

function finished(batch: PendingBatch): MappedBatch {
  const { read, skipped, personFallbacks, mappingRejects, items } = batch;
  const encoded = { ...batch.encoded.finish(), item: async (index: number) => items.item(index) };
  return {
    read,
    skipped,
    personFallbacks,
    prepared: encodedBatch(batch.runId, encoded, batch.encodingRejects),
    mappingRejects,
    checkpoints: [...batch.checkpoints.values()],
    recordItems: items,
  };
}
