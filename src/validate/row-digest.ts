import * as crypto from 'node:crypto';
import { quoteIdent } from '../db/identifiers.js';
import { provenancedRows, TARGET_TABLES } from '../load/target-table.js';
import type { TargetLayout } from '../load/target-ownership.js';
import { databaseRefusalOf } from '../db/database-error.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { canonicalSql, type TargetTableName } from './target-columns.js';
import { hashTextExtended } from './text-hash.js';

/**
 * Rows are compared the way data-diff compares tables: per bucket of ids (the first three hex
 * digits, 4,096 buckets), a row count and the sum of a 60-bit hash of each row. Sums do not
 * depend on the order rows arrive in, so the expected side is hashed as the source streams and the
 * target side in one GROUP BY; only buckets whose figures differ are read row by row.
 */
export const BUCKET_DIGITS = 3;

/**
 * How a row is hashed: the low 60 bits of PostgreSQL's hashtextextended of its digest text, which
 * costs the server half what MD5 does and is computed here the same way (text-hash.ts); or MD5's
 * first 60 bits, where the server's hashtextextended is not this tool's (rowHashOf).
 */
export type RowHash = 'hashtext' | 'md5';

export interface BucketFigures {
  count: number;
  sum: bigint;
}

/** A row's canonical values as one text: each value length-prefixed (in characters), NULL as `~`. */
export function digestText(values: readonly (string | null)[]): string {
  let text = '';
  for (const value of values) text += digestPart(value);
  return text;
}

/** One value's part of digestText: the text is the parts of the row's values, in their order. */
export function digestPart(value: string | null): string {
  return value === null ? '~' : `${characterLength(value)}:${value}`;
}

const HIGH_SURROGATE = /[\uD800-\uDBFF]/;

/** PostgreSQL's length() of UTF-8 text: characters, so a surrogate pair counts once. */
function characterLength(text: string): number {
  // Nearly every value has no surrogate: one native scan says so.
  if (!HIGH_SURROGATE.test(text)) return text.length;
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length -= 1;
        i += 1;
      }
    }
  }
  return length;
}

// The one-shot crypto.hash (Node 20.12+) costs a third of a Hash object per row. Its 16 bytes as
// `binary` (latin1) text: one short string, read a byte a character.
const md5Bytes: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('md5', text, 'binary')
    : (text) => crypto.createHash('md5').update(text, 'utf8').digest('binary');

/** Bytes `at`…`at + 3` of a `binary` digest, big-endian. */
function word(bytes: string, at: number): number {
  return ((bytes.charCodeAt(at) << 24) | (bytes.charCodeAt(at + 1) << 16) | (bytes.charCodeAt(at + 2) << 8) | bytes.charCodeAt(at + 3)) >>> 0;
}

/**
 * A row's 60-bit hash as two numbers, left in `halves`: [high, low], worth high · 2^shift + low.
 * hashtext: the low 60 bits of hashtextextended (high 28 bits, low 32, shift 32), the SQL side's
 * `hashtextextended(…, 0) & (2^60 - 1)`; md5: MD5's first 60 bits (high 32, low 28, shift 28),
 * the SQL side's `substr(md5(…), 1, 15)::bit(60)::bigint`.
 */
function hashHalves(hash: RowHash, text: string, halves: Uint32Array): void {
  if (hash === 'hashtext') {
    hashTextExtended(text, halves);
    halves[0] = halves[0]! & 0x0fffffff;
    return;
  }
  const bytes = md5Bytes(text);
  halves[0] = word(bytes, 0);
  halves[1] = word(bytes, 4) >>> 4;
}

const SHIFT: Record<RowHash, bigint> = { hashtext: 32n, md5: 28n };

function rowHashOfText(hash: RowHash, text: string): bigint {
  const halves = new Uint32Array(2);
  hashHalves(hash, text, halves);
  return (BigInt(halves[0]!) << SHIFT[hash]) + BigInt(halves[1]!);
}

/**
 * How this validation hashes rows: hashtext unless the server's hashtextextended of a few texts
 * is not what this tool computes (a big-endian server reads the words the other way) or it has
 * none (before PostgreSQL 11). MD5 is the same everywhere.
 */
export async function rowHashOf(sql: SqlClient): Promise<RowHash> {
  const probes = ['', 'kpi-migrate', '36:0fb3cec2-846b-4364-b5b3-3704ce90a72c~9:KpiActual', 'é日本🎉'];
  let rows: { h: string }[];
  try {
    // A transaction of its own: a refusal must not end another.
    ({ rows } = await sql.transaction((session) =>
      session.query<{ h: string }>(`select hashtextextended(p collate "C", 0)::text as h from unnest($1::text[]) with ordinality as probes(p, n) order by n`, [probes]),
    ));
  } catch (error) {
    // undefined_function: a server older than hashtextextended.
    if (databaseRefusalOf(error)?.sqlstate === '42883') return 'md5';
    throw error;
  }
  const halves = new Uint32Array(2);
  const same = probes.every((probe, at) => {
    hashTextExtended(probe, halves);
    return BigInt.asIntN(64, (BigInt(halves[0]!) << 32n) | BigInt(halves[1]!)).toString() === rows[at]?.h;
  });
  return same ? 'hashtext' : 'md5';
}

export function bucketOf(id: string): string {
  return id.slice(0, BUCKET_DIGITS).toLowerCase();
}

const BUCKETS = 16 ** BUCKET_DIGITS;
/** Rows a bucket's number sums take before they are folded into its bigint: each sum stays below 2^53. */
const FOLD_EVERY = 1 << 20;

/** A bucket's number of three hex digits (either case, as bucketOf reads them); -1 for any other id. */
function hexBucket(id: string): number {
  let bucket = 0;
  for (let i = 0; i < BUCKET_DIGITS; i++) {
    const code = id.charCodeAt(i);
    const lower = code | 0x20;
    const digit = code >= 0x30 && code <= 0x39 ? code - 0x30 : lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
    if (digit < 0) return -1;
    bucket = bucket * 16 + digit;
  }
  return bucket;
}

/**
 * Bucket figures of rows as they stream by. Memory: one entry per bucket, nothing per row. A row's
 * hash is summed as two numbers (the 32 bits before and the 28 after), not as a bigint per row.
 */
export class BucketDigests {
  rows = 0;
  readonly #halves = new Uint32Array(2);
  readonly #counts = new Float64Array(BUCKETS);
  /** Sums of the rows' hashes' high and low halves (see hashHalves) since the last fold, and how many. */
  readonly #high = new Float64Array(BUCKETS);
  readonly #low = new Float64Array(BUCKETS);
  readonly #unfolded = new Uint32Array(BUCKETS);
  readonly #folded = new Map<number, bigint>();
  /** Ids whose first digits are not hex: few or none, by their bucketOf. */
  readonly #others = new Map<string, BucketFigures>();
  #figures: Map<string, BucketFigures> | undefined;

  constructor(readonly hash: RowHash = 'hashtext') {}

  add(id: string, values: readonly (string | null)[]): void {
    this.addText(id, digestText(values));
  }

  /** A row by its id and its digestText. */
  addText(id: string, text: string): void {
    this.rows += 1;
    this.#figures = undefined;
    const bucket = hexBucket(id);
    if (bucket < 0) {
      const name = bucketOf(id);
      const figures = this.#others.get(name);
      const hash = rowHashOfText(this.hash, text);
      if (figures === undefined) this.#others.set(name, { count: 1, sum: hash });
      else {
        figures.count += 1;
        figures.sum += hash;
      }
      return;
    }
    hashHalves(this.hash, text, this.#halves);
    this.#high[bucket]! += this.#halves[0]!;
    this.#low[bucket]! += this.#halves[1]!;
    this.#counts[bucket]! += 1;
    if (++this.#unfolded[bucket]! === FOLD_EVERY) this.#fold(bucket);
  }

  /** Adds a bucket's figures as another BucketDigests gave them (rows another thread hashed). */
  addFigures(name: string, figures: BucketFigures): void {
    this.rows += figures.count;
    this.#figures = undefined;
    const bucket = hexBucket(name);
    if (bucket < 0 || name.length !== BUCKET_DIGITS) {
      const other = this.#others.get(name);
      this.#others.set(name, other === undefined ? { ...figures } : { count: other.count + figures.count, sum: other.sum + figures.sum });
      return;
    }
    this.#counts[bucket]! += figures.count;
    this.#folded.set(bucket, (this.#folded.get(bucket) ?? 0n) + figures.sum);
  }

  /** Count and sum of each bucket with rows, by bucketOf. */
  get buckets(): ReadonlyMap<string, BucketFigures> {
    if (this.#figures !== undefined) return this.#figures;
    const figures = new Map<string, BucketFigures>();
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      if (this.#counts[bucket] === 0) continue;
      figures.set(bucket.toString(16).padStart(BUCKET_DIGITS, '0'), { count: this.#counts[bucket]!, sum: this.#sumOf(bucket) });
    }
    for (const [name, other] of this.#others) {
      const figure = figures.get(name);
      // An id such as `ABC…` that is no GUID falls where a GUID's bucket `abc` does.
      figures.set(name, figure === undefined ? { ...other } : { count: figure.count + other.count, sum: figure.sum + other.sum });
    }
    this.#figures = figures;
    return figures;
  }

  #sumOf(bucket: number): bigint {
    return (this.#folded.get(bucket) ?? 0n) + (BigInt(this.#high[bucket]!) << SHIFT[this.hash]) + BigInt(this.#low[bucket]!);
  }

  #fold(bucket: number): void {
    this.#folded.set(bucket, this.#sumOf(bucket));
    this.#high[bucket] = 0;
    this.#low[bucket] = 0;
    this.#unfolded[bucket] = 0;
  }
}

/** Which rows of a target table a validation looks at: all, or one tenant's (a `--tenant` run). */
export interface TargetScope {
  schema: string;
  /** Where the tables keep provenance (readTargetLayout); absent: in the rows, as the tool's own tables do. */
  layout?: TargetLayout;
  tenant?: string;
  /**
   * Tool-written links no source record produces that the sweep had to keep, because rows of the
   * application reference them (see keptLinks in validate.ts): left out of every check, as the
   * application's own rows are.
   */
  keptLinks?: readonly string[];
}

/** The rows of `table` with their provenance columns, whoever owns the table (provenancedRows). */
export function targetRows(scope: TargetScope, table: TargetTableName): string {
  return provenancedRows(scope.schema, TARGET_TABLES[table], scope.layout?.[table]);
}

/**
 * A WHERE condition limiting `t` (a row of `table`) to the scope; its parameters are
 * scopeParams(scope, table), from `$param` on.
 */
export function scopeCondition(table: TargetTableName, scope: TargetScope, param: number): string {
  // A row without provenance is the application's (contract §5), not the migration's: never compared.
  const conditions = ['t.source_entity is not null'];
  let next = param;
  if (scope.tenant !== undefined) {
    const tenant = `$${next++}`;
    if (table === 'kpi_links') conditions.push(`t.tenant_id::text = ${tenant}`);
    else conditions.push(`exists (select 1 from ${quoteIdent(scope.schema)}.kpi_links l where l.id = t.kpi_link_id and l.tenant_id::text = ${tenant})`);
  }
  if (table === 'kpi_links' && hasKeptLinks(scope)) conditions.push(`not (t.id = any($${next}::uuid[]))`);
  return conditions.join(' and ');
}

/** The parameters of scopeCondition(table, scope, n), in its order. */
export function scopeParams(scope: TargetScope, table: TargetTableName): string[] {
  const params = scope.tenant === undefined ? [] : [scope.tenant];
  if (table === 'kpi_links' && hasKeptLinks(scope)) params.push(`{${scope.keptLinks!.join(',')}}`);
  return params;
}

function hasKeptLinks(scope: TargetScope): boolean {
  return scope.keptLinks !== undefined && scope.keptLinks.length > 0;
}

/** The SQL form of digestText over the listed columns of `t`. */
export function digestTextSql(table: TargetTableName, columns: readonly string[]): string {
  return columns
    .map((name) => {
      const value = canonicalSql(table, name);
      return `coalesce(length(${value})::text || ':' || ${value}, '~')`;
    })
    .join(' || ');
}

/** The target side of BucketDigests, computed by the database in one pass over the table. */
export async function targetBucketDigests(
  sql: SqlSession,
  table: TargetTableName,
  columns: readonly string[],
  scope: TargetScope,
  hash: RowHash = 'hashtext',
): Promise<Map<string, BucketFigures>> {
  const text = digestTextSql(table, columns);
  // In the C collation whatever the columns': the hash of any other is not the hash of the bytes.
  const rowHash = hash === 'hashtext' ? `hashtextextended((${text}) collate "C", 0) & ${2n ** 60n - 1n}` : `('x' || substr(md5(${text}), 1, 15))::bit(60)::bigint`;
  // Each row's hash is made below the grouping (offset 0 keeps the subquery apart): grouped by
  // itself, the planner sorted the rows with every column the hash reads, spilling to disk, where
  // it now hashes 4,096 groups of (bucket, hash). The same figures for 17–20% less of the database's CPU.
  const { rows } = await sql.query<{ bucket: string; n: string; h: string }>(
    `select bucket, count(*)::text as n, sum(h)::text as h
     from (
       select substr(t.id::text, 1, ${BUCKET_DIGITS}) as bucket, ${rowHash} as h
       from ${targetRows(scope, table)} t
       where ${scopeCondition(table, scope, 1)}
       offset 0
     ) hashed
     group by bucket`,
    scopeParams(scope, table),
  );
  return new Map(rows.map((row) => [row.bucket, { count: Number(row.n), sum: BigInt(row.h) }]));
}

/** Buckets whose count or sum differ, in id order. */
export function differingBuckets(expected: ReadonlyMap<string, BucketFigures>, found: ReadonlyMap<string, BucketFigures>): string[] {
  const all = new Set([...expected.keys(), ...found.keys()]);
  return [...all]
    .filter((bucket) => {
      const a = expected.get(bucket);
      const b = found.get(bucket);
      return a === undefined || b === undefined || a.count !== b.count || a.sum !== b.sum;
    })
    .sort();
}

/** The listed columns (canonical text) of the target rows in one bucket, by id. */
export async function targetRowsOfBucket(
  sql: SqlSession,
  table: TargetTableName,
  columns: readonly string[],
  scope: TargetScope,
  bucket: string,
): Promise<Map<string, (string | null)[]>> {
  const low = `${bucket.padEnd(8, '0')}-0000-0000-0000-000000000000`;
  const high = `${bucket.padEnd(8, 'f')}-ffff-ffff-ffff-ffffffffffff`;
  const { rows } = await sql.query<Record<string, string | null>>(
    `select ${columns.map((name, i) => `${canonicalSql(table, name)} as c${i}`).join(', ')}
     from ${targetRows(scope, table)} t
     where t.id between $1::uuid and $2::uuid and ${scopeCondition(table, scope, 3)}
     order by t.id`,
    [low, high, ...scopeParams(scope, table)],
  );
  const byId = new Map<string, (string | null)[]>();
  for (const row of rows) {
    const values = columns.map((_, i) => row[`c${i}`] ?? null);
    byId.set(values[columns.indexOf('id')] ?? '', values);
  }
  return byId;
}
