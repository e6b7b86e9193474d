import * as crypto from 'node:crypto';
import { quoteIdent } from '../db/identifiers.js';
import { provenancedRows, TARGET_TABLES } from '../load/target-table.js';
import type { TargetLayout } from '../load/target-ownership.js';
import type { SqlSession } from '../db/sql-client.js';
import { canonicalSql, type TargetTableName } from './target-columns.js';

/**
 * Rows are compared the way data-diff compares tables: per bucket of ids (the first three hex
 * digits, 4,096 buckets), a row count and the sum of a 60-bit slice of each row's MD5. Sums do not
 * depend on the order rows arrive in, so the expected side is hashed as the source streams and the
 * target side in one GROUP BY; only buckets whose figures differ are read row by row.
 */
export const BUCKET_DIGITS = 3;

export interface BucketFigures {
  count: number;
  sum: bigint;
}

/** A row's canonical values as one text: each value length-prefixed (in characters), NULL as `~`. */
export function digestText(values: readonly (string | null)[]): string {
  let text = '';
  for (const value of values) text += value === null ? '~' : `${characterLength(value)}:${value}`;
  return text;
}

/** PostgreSQL's length() of UTF-8 text: characters, so a surrogate pair counts once. */
function characterLength(text: string): number {
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

// The one-shot crypto.hash (Node 20.12+) costs a third of a Hash object per row.
const md5Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('md5', text, 'hex')
    : (text) => crypto.createHash('md5').update(text, 'utf8').digest('hex');

export function rowHash(values: readonly (string | null)[]): bigint {
  return BigInt(`0x${md5Hex(digestText(values)).slice(0, 15)}`);
}

export function bucketOf(id: string): string {
  return id.slice(0, BUCKET_DIGITS).toLowerCase();
}

/** Bucket figures of rows as they stream by. Memory: one entry per bucket, nothing per row. */
export class BucketDigests {
  readonly buckets = new Map<string, BucketFigures>();
  rows = 0;

  add(id: string, values: readonly (string | null)[]): void {
    const bucket = bucketOf(id);
    const figures = this.buckets.get(bucket);
    const hash = rowHash(values);
    if (figures === undefined) this.buckets.set(bucket, { count: 1, sum: hash });
    else {
      figures.count += 1;
      figures.sum += hash;
    }
    this.rows += 1;
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
): Promise<Map<string, BucketFigures>> {
  const { rows } = await sql.query<{ bucket: string; n: string; h: string }>(
    `select substr(t.id::text, 1, ${BUCKET_DIGITS}) as bucket, count(*)::text as n,
       sum(('x' || substr(md5(${digestTextSql(table, columns)}), 1, 15))::bit(60)::bigint)::text as h
     from ${targetRows(scope, table)} t
     where ${scopeCondition(table, scope, 1)}
     group by 1`,
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
