import { MigrateError } from '../errors.js';
import type { MigratedEntity } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { Reject } from '../model/reject.js';
import type { KpiDataRow, KpiLinkRow } from '../model/rows.js';
import { CopyEncodingError, encodeCopyValue, type CopyValue } from './copy-text.js';
import { canonicalUuid } from './id-conflicts.js';
import { isCanonicalUuid } from '../model/uuid-text.js';
import { KPI_DATA_TABLE, KPI_LINKS_TABLE } from './target-table.js';
import type { EncodedRecords, EncodedRecordsBuilder } from './encoded-records.js';

/** One source record that the transform mapped, and the target rows it yields. */
export interface RecordRows<Row> {
  sourceId: string;
  item: LegacyItem;
  rows: Row[];
}

/** A reject as the load stage records it: a `db_error` carries the database's SQLSTATE. */
export interface LoadReject extends Reject {
  sqlstate?: string;
}

export type TargetRow = KpiLinkRow | KpiDataRow;

/** A record ready to load: its rows as COPY text and the row ids they take. */
export interface PreparedRecord {
  sourceId: string;
  /** Canonical where they are uuids at all. */
  rowIds: readonly string[];
  /** One line per row: the table's columns, then the run id twice (first_run_id, last_run_id). */
  copyText: string;
  /** The raw item, asked for only when the record is rejected or read twice (it may live in another thread). */
  item(): Promise<LegacyItem>;
}

/** The records of a batch as `prepareRecord` left them; read = records + encodingRejects + mappingRejects + skipped. */
export interface PreparedBatch {
  /** The run the COPY text names; it must be the batch's. */
  runId: string;
  records: PreparedRecord[];
  encodingRejects: LoadReject[];
  /** The same records already encoded for the writer (by the thread that read them, say): the writer then reads only this. */
  encoded?: EncodedRecords;
}

/**
 * A mapped record → its rows as COPY text and the ids they take, or a `db_error` reject when a
 * value cannot reach PostgreSQL exactly. Pure: the pipeline may run it in a worker thread.
 */
export function prepareRecord(
  entity: MigratedEntity,
  record: RecordRows<TargetRow>,
  runId: string,
): { ok: true; record: PreparedRecord } | { ok: false; reject: LoadReject } {
  const table = entity === 'GoalKpiLink' ? KPI_LINKS_TABLE : KPI_DATA_TABLE;
  for (const row of record.rows) {
    if (row.source_entity !== entity || row.source_id !== record.sourceId) {
      throw new MigrateError(
        'INTERNAL',
        `row ${row.id} says it comes from ${row.source_entity} ${row.source_id}, but its record is ${entity} ${record.sourceId}`,
      );
    }
  }
  const { item } = record;
  try {
    const copyText = encodeRows(record.rows, table.columns, `\t${runId}\t${runId}\n`);
    return {
      ok: true,
      record: { sourceId: record.sourceId, copyText, rowIds: record.rows.map((row) => canonicalRowId(row.id)), item: async () => item },
    };
  } catch (error) {
    if (!(error instanceof CopyEncodingError)) throw new MigrateError('INTERNAL', `${entity} ${record.sourceId}: ${String(error)}`, { cause: error });
    return {
      ok: false,
      reject: {
        sourceEntity: entity,
        sourceId: record.sourceId,
        reason: 'db_error',
        message: `not sent to the database: ${error.message}, so it cannot be stored exactly; none of this record's ${record.rows.length} row(s) were loaded`,
        item,
      },
    };
  }
}

/** What each of a fanned-out record's rows has of its own. */
export interface FannedRow {
  id: string;
  linkId: string;
}

/**
 * A kpi_data record whose rows differ only in their id and link (a fact fanned out over its KPI's
 * links), written into a batch as prepareRecord encodes the same rows: `sharedFields` are the COPY
 * fields of the columns after `id` and `kpi_link_id` (the transform's fast path writes them once),
 * each row adds its id and link, and the rows after the first copy the first's shared bytes.
 * Row ids are canonical already (the record's Id as coerced, or a UUIDv5). False, with nothing
 * written, when a link id has no exact COPY form.
 */
export function addFannedRecord(into: EncodedRecordsBuilder, sourceId: string, sharedFields: string, rows: readonly FannedRow[], runColumns: RunColumns): boolean {
  let links: string[];
  try {
    links = rows.map((row) => encodeCopyValue(row.linkId, 'kpi_link_id'));
  } catch (error) {
    // A link id with no UTF-8 form: prepareRecord, given the rows, makes the `db_error` reject.
    if (error instanceof CopyEncodingError) return false;
    throw error;
  }
  into.beginRecord(sourceId);
  for (const row of rows) into.addRowId(row.id);
  let sharedStart = 0;
  let sharedEnd = 0;
  for (let at = 0; at < rows.length; at++) {
    into.copyText(`${rows[at]!.id}\t${links[at]!}\t`);
    if (at === 0) {
      sharedStart = into.copyText(sharedFields);
      into.copyText(runColumns.text);
      sharedEnd = into.copyAt;
    } else into.copyTail(sharedStart, sharedEnd);
  }
  into.endRecord();
  return true;
}

/** A row's last columns, first_run_id and last_run_id, with the line end: the same for every row of a run. */
export interface RunColumns {
  runId: string;
  text: string;
}

export function runColumnsOf(runId: string): RunColumns {
  return { runId, text: `\t${runId}\t${runId}\n` };
}

/** The transform already writes canonical ids; only the odd one needs canonicalUuid's work. */
function canonicalRowId(id: string): string {
  return isCanonicalUuid(id) ? id : (canonicalUuid(id) ?? id);
}

/**
 * Rows → COPY text as encodeCopyRows writes it, each line ending with `lineEnd` (the run
 * columns and the newline). Joined from arrays: `+=` would leave a rope of a node per field,
 * millions of small objects over a run for the garbage collector to trace.
 */
function encodeRows(rows: readonly TargetRow[], columns: readonly string[], lineEnd: string): string {
  const lines: string[] = [];
  const fields: string[] = new Array<string>(columns.length);
  for (const row of rows) {
    for (let at = 0; at < columns.length; at++) {
      const column = columns[at]!;
      const value = (row as unknown as Record<string, CopyValue | undefined>)[column];
      if (value === undefined) throw new TypeError(`row has no value for column ${column}`);
      fields[at] = encodeCopyValue(value, column);
    }
    lines.push(fields.join('\t'), lineEnd);
  }
  return lines.join('');
}
