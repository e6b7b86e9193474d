import type { SqlSession } from '../db/sql-client.js';
import {
  BucketDigests,
  bucketOf,
  digestPart,
  differingBuckets,
  targetBucketDigests,
  targetRowsOfBucket,
  type BucketFigures,
  type RowHash,
  type TargetScope,
} from './row-digest.js';
import { DifferenceList } from './report.js';
import { SHARED_DATA_COLUMNS, sharedDataValues } from '../transform/index.js';
import type { FannedRows } from './expectations.js';
import { canonicalValue, columnType, rowCanonicaliser, type ColumnType, type TargetRow, type TargetTableName } from './target-columns.js';

/** Expected rows held at most while drilling into differing buckets (the target's are read bucket by bucket). */
export const DRILL_ROW_BUDGET = 100_000;

interface ExpectedRow {
  values: (string | null)[];
  entity: string;
  sourceId: string;
}

export interface DrillPlan {
  table: TargetTableName;
  buckets: ReadonlySet<string>;
}

/**
 * Every expected row of one target table against the target, per bucket of ids: first the
 * bucket figures of both sides (the expected side as the source streams), then, for buckets that
 * differ, the rows themselves. Which columns take part is the caller's choice: the keys (id,
 * link, provenance) by default, every contract column with `--full`.
 */
export class RowReconciliation {
  readonly expected: BucketDigests;
  #found: Map<string, BucketFigures> | undefined;
  #reading: Promise<Map<string, BucketFigures>> | undefined;
  #differing: string[] = [];
  #drilled = new Set<string>();
  /** Filled by a second pass over the source, for the drilled buckets only. */
  #drillRows = new Map<string, Map<string, ExpectedRow[]>>();
  readonly #idAt: number;
  readonly #columnAt: (name: string) => number;
  readonly #canonical: (row: TargetRow) => (string | null)[];
  /** For kpi_data's columns when they are id, kpi_link_id, then shared columns in their order: where addFanned finds those. */
  readonly #sharedColumns: { indexes: number[]; types: ColumnType[] } | undefined;

  constructor(
    readonly table: TargetTableName,
    readonly columns: readonly string[],
    hash: RowHash = 'hashtext',
  ) {
    this.expected = new BucketDigests(hash);
    this.#idAt = columns.indexOf('id');
    this.#canonical = rowCanonicaliser(table, columns);
    this.#columnAt = (name) => columns.indexOf(name);
    this.#sharedColumns = table === 'kpi_data' ? sharedColumnsOf(columns) : undefined;
  }

  /** An expected row, during the first pass. */
  add(row: TargetRow): void {
    const values = this.#canonical(row);
    this.expected.add(values[this.#idAt] ?? '', values);
  }

  /**
   * A fact's expected rows as the fast path gives them, during the first pass: the same figures as
   * adding each row, with the columns its rows share read and made canonical once for all of them.
   */
  addFanned(fanned: FannedRows): void {
    const shared = this.#sharedColumns;
    if (shared === undefined) {
      for (const row of fanned) this.add(row);
      return;
    }
    const values = sharedDataValues(fanned.record, shared.indexes);
    let sharedText = '';
    for (let at = 0; at < values.length; at++) sharedText += digestPart(canonicalValue(shared.types[at]!, values[at]));
    for (const { id, linkId } of fanned.ids) {
      const canonicalId = canonicalValue('uuid', id) ?? '';
      this.expected.addText(canonicalId, digestPart(canonicalId) + digestPart(canonicalValue('uuid', linkId)) + sharedText);
    }
  }

  /**
   * Starts reading the target's bucket figures once `after` is done, for compareBuckets (with the
   * same scope): the database works while the expected rows are still being added. Returns when
   * the reading is done (it never fails: compareBuckets throws its failure).
   */
  readTargetFigures(
    sql: SqlSession,
    scope: TargetScope,
    after: Promise<unknown> = Promise.resolve(),
    /** Where the reading runs: on `sql` itself unless the caller gives it a session of its own. */
    within: <T>(read: (session: SqlSession) => Promise<T>) => Promise<T> = (read) => read(sql),
  ): Promise<unknown> {
    const reading = after.then(() => within((session) => targetBucketDigests(session, this.table, this.columns, scope, this.expected.hash)));
    this.#reading = reading;
    return reading.catch(() => undefined);
  }

  /** Reads the target's bucket figures (unless begun) and decides which differing buckets to read row by row. */
  async compareBuckets(sql: SqlSession, scope: TargetScope): Promise<DrillPlan | undefined> {
    this.#found = await (this.#reading ?? targetBucketDigests(sql, this.table, this.columns, scope, this.expected.hash));
    this.#differing = differingBuckets(this.expected.buckets, this.#found);
    if (this.#differing.length === 0) return undefined;
    let rows = 0;
    for (const bucket of this.#differing) {
      const size = (this.expected.buckets.get(bucket)?.count ?? 0) + (this.#found.get(bucket)?.count ?? 0);
      if (this.#drilled.size > 0 && rows + size > DRILL_ROW_BUDGET) break;
      this.#drilled.add(bucket);
      rows += size;
    }
    return { table: this.table, buckets: this.#drilled };
  }

  /** An expected row, during the second pass: kept only when its bucket is drilled into. */
  addForDrill(row: TargetRow): void {
    const values = this.#canonical(row);
    const id = values[this.#idAt] ?? '';
    const bucket = bucketOf(id);
    if (!this.#drilled.has(bucket)) return;
    let byId = this.#drillRows.get(bucket);
    if (byId === undefined) {
      byId = new Map();
      this.#drillRows.set(bucket, byId);
    }
    const list = byId.get(id) ?? [];
    list.push({ values, entity: row.source_entity, sourceId: row.source_id });
    byId.set(id, list);
  }

  get targetRows(): number {
    let rows = 0;
    for (const figures of this.#found?.values() ?? []) rows += figures.count;
    return rows;
  }

  get differingBucketCount(): number {
    return this.#differing.length;
  }

  get drilledBucketCount(): number {
    return this.#drilled.size;
  }

  /** The rows of the drilled buckets compared one by one: missing, extra, and changed values. */
  async differences(sql: SqlSession, scope: TargetScope, limit: number, runName: string): Promise<DifferenceList> {
    const list = new DifferenceList(limit);
    for (const bucket of [...this.#drilled].sort()) {
      const found = await targetRowsOfBucket(sql, this.table, this.columns, scope, bucket);
      const expected = this.#drillRows.get(bucket) ?? new Map<string, ExpectedRow[]>();
      const ids = [...new Set([...expected.keys(), ...found.keys()])].sort();
      for (const id of ids) this.#compareRow(id, expected.get(id) ?? [], found.get(id), list, runName);
    }
    return list;
  }

  #compareRow(id: string, expected: ExpectedRow[], found: (string | null)[] | undefined, list: DifferenceList, runName: string): void {
    const table = this.table;
    const at = (values: (string | null)[], name: string) => {
      const index = this.#columnAt(name);
      return index === -1 ? null : (values[index] ?? null);
    };
    const where = (values: (string | null)[]) => (table === 'kpi_data' ? `, link ${at(values, 'kpi_link_id')}` : '');
    if (found === undefined) {
      for (const row of expected) {
        list.add({
          kind: 'missing_row', table, id, entity: row.entity, sourceId: row.sourceId,
          message: `${table} row ${id} of ${row.entity} ${row.sourceId}${where(row.values)} is not in the target, and ${runName} recorded no reject for that record`,
        });
      }
      return;
    }
    const foundEntity = at(found, 'source_entity') ?? '?';
    const foundSource = at(found, 'source_id');
    if (expected.length === 0) {
      list.add({
        kind: 'extra_row', table, id, entity: foundEntity, sourceId: foundSource,
        message: `${table} row ${id} (${foundEntity} ${foundSource}${where(found)}) is in the target, but no record of the source produces it`,
      });
      return;
    }
    const same = expected.findIndex((row) => row.values.every((value, i) => value === found[i]));
    const matched = same === -1 ? expected[0]! : expected[same]!;
    if (same === -1) {
      this.columns.forEach((column, i) => {
        const want = matched.values[i] ?? null;
        const got = found[i] ?? null;
        if (want === got) return;
        list.add({
          kind: 'changed_value', table, id, entity: matched.entity, sourceId: matched.sourceId, column, expected: want, found: got,
          message: `${table} row ${id} of ${matched.entity} ${matched.sourceId}: ${column} is ${shown(got)}, expected ${shown(want)}`,
        });
      });
    }
    for (const row of expected) {
      if (row === matched) continue;
      list.add({
        kind: 'missing_row', table, id, entity: row.entity, sourceId: row.sourceId,
        message: `${table} row ${id} is produced by ${row.entity} ${row.sourceId} too, but holds ${matched.entity} ${matched.sourceId}; ${runName} recorded no id_conflict reject for ${row.entity} ${row.sourceId}`,
      });
    }
  }
}

function sharedColumnsOf(columns: readonly string[]): { indexes: number[]; types: ColumnType[] } | undefined {
  if (columns[0] !== 'id' || columns[1] !== 'kpi_link_id') return undefined;
  const rest = columns.slice(2);
  const indexes = rest.map((name) => (SHARED_DATA_COLUMNS as readonly string[]).indexOf(name));
  if (indexes.some((index, at) => index === -1 || (at > 0 && index <= indexes[at - 1]!))) return undefined;
  return { indexes, types: rest.map((name) => columnType('kpi_data', name)) };
}

function shown(value: string | null): string {
  if (value === null) return 'NULL';
  return value.length > 200 ? `${JSON.stringify(value.slice(0, 200))}…` : JSON.stringify(value);
}

