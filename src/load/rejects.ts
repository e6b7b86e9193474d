import { MigrateError } from '../errors.js';
import { LEGACY_ENTITIES, type LegacyEntity } from '../model/entities.js';
import { REJECT_REASONS, type Reject, type RejectReason } from '../model/reject.js';
import { targetFailure } from '../db/database-error.js';
import { storableItemJson, storableJson } from './jsonb-text.js';
import type { SqlSession } from '../db/sql-client.js';

/** A reject as kpi_migrate.rejects keeps it. */
export interface StoredReject {
  id: string;
  runId: string;
  sourceEntity: string;
  sourceId: string | null;
  reason: RejectReason;
  attribute: string | null;
  message: string;
  sqlstate: string | null;
  /** The raw legacy item as JSON text, numbers digit for digit (parse it with lossless-json). */
  itemJson: string;
  /** ISO-8601 UTC. */
  createdAt: string;
}

export interface RejectFilter {
  runId?: string;
  reason?: string;
  entity?: string;
  /** At most this many, oldest first. */
  limit: number;
  /** Only rejects after this reject id: the next page after the last one listed. */
  afterId?: string;
}

const BIGINT_ID = /^[1-9][0-9]{0,18}$/;

/** Rejects for `kpi-migrate rejects`; a filter the database cannot match is a USAGE error. */
export async function listRejects(sql: SqlSession, filter: RejectFilter): Promise<StoredReject[]> {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const where = (condition: (param: string) => string, value: unknown): void => {
    params.push(value);
    conditions.push(condition(`$${params.length}`));
  };
  if (filter.runId !== undefined) {
    if (!BIGINT_ID.test(filter.runId)) throw new MigrateError('USAGE', `not a run id: ${JSON.stringify(filter.runId)}`);
    where((p) => `run_id = ${p}::bigint`, filter.runId);
  }
  if (filter.reason !== undefined) {
    if (!(REJECT_REASONS as readonly string[]).includes(filter.reason)) {
      throw new MigrateError('USAGE', `unknown reject reason ${JSON.stringify(filter.reason)}: one of ${REJECT_REASONS.join(', ')}`);
    }
    where((p) => `reason = ${p}`, filter.reason);
  }
  if (filter.entity !== undefined) {
    if (!(LEGACY_ENTITIES as readonly string[]).includes(filter.entity)) {
      throw new MigrateError('USAGE', `unknown entity ${JSON.stringify(filter.entity)}: one of ${LEGACY_ENTITIES.join(', ')}`);
    }
    where((p) => `source_entity = ${p}`, filter.entity);
  }
  if (filter.afterId !== undefined) {
    if (!BIGINT_ID.test(filter.afterId)) throw new MigrateError('USAGE', `not a reject id: ${JSON.stringify(filter.afterId)}`);
    where((p) => `id > ${p}::bigint`, filter.afterId);
  }
  if (!Number.isSafeInteger(filter.limit) || filter.limit < 1) throw new MigrateError('USAGE', `limit must be a positive whole number, got ${filter.limit}`);
  params.push(filter.limit);
  try {
    // Ordered by rejects.id: a bare `id` is the text column selected, and '10' sorts before '9'.
    const { rows } = await sql.query<{
      id: string;
      run_id: string;
      source_entity: string;
      source_id: string | null;
      reason: RejectReason;
      attribute: string | null;
      message: string;
      sqlstate: string | null;
      item: string;
      created_at: string;
    }>(
      `select id::text as id, run_id::text as run_id, source_entity, source_id, reason, attribute, message, sqlstate,
         item::text as item, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at
       from kpi_migrate.rejects ${conditions.length > 0 ? `where ${conditions.join(' and ')}` : ''}
       order by rejects.id limit $${params.length}`,
      params,
    );
    return rows.map((row) => ({
      id: row.id,
      runId: row.run_id,
      sourceEntity: row.source_entity,
      sourceId: row.source_id,
      reason: row.reason,
      attribute: row.attribute,
      message: row.message,
      sqlstate: row.sqlstate,
      itemJson: row.item,
      createdAt: row.created_at,
    }));
  } catch (error) {
    throw targetFailure(error, 'listing rejects');
  }
}

/** One JSON line for a stored reject, its raw item embedded as JSON (not as a string), digits intact. */
export function rejectJsonLine(reject: StoredReject): string {
  const { itemJson, ...fields } = reject;
  return `${JSON.stringify(fields).slice(0, -1)},"item":${itemJson}}`;
}

/** Source ids of this entity that the run rejected (optionally only for these reasons). */
export async function loadRejectedSourceIds(
  sql: SqlSession,
  runId: string,
  entity: LegacyEntity,
  reasons: readonly RejectReason[] = REJECT_REASONS,
): Promise<string[]> {
  if (!BIGINT_ID.test(runId)) throw new MigrateError('RUN_NOT_FOUND', `not a run id: ${JSON.stringify(runId)}`);
  try {
    const { rows } = await sql.query<{ source_id: string }>(
      `select distinct source_id from kpi_migrate.rejects
       where run_id = $1::bigint and source_entity = $2 and source_id is not null and reason = any($3::text[])
       order by source_id`,
      [runId, entity, `{${reasons.join(',')}}`],
    );
    return rows.map((row) => row.source_id);
  } catch (error) {
    throw targetFailure(error, `reading the rejected ${entity} ids of run ${runId}`);
  }
}

/** Characters of a source id kept in the indexed source_id column (4 bytes each at most in UTF-8). */
const MAX_INDEXED_SOURCE_ID = 256;

/**
 * Inserts rejects with their raw items as jsonb, in one statement. What jsonb or text cannot hold
 * (U+0000, unpaired surrogates) is written as `\uXXXX` text, and the message says so.
 */
export async function insertRejects(
  session: SqlSession,
  runId: string,
  rejects: readonly (Reject & { sqlstate?: string })[],
): Promise<void> {
  if (rejects.length === 0) return;
  await session.query(INSERT_REJECTS, [runId, rejectsJson(rejects)]);
}

/** insertRejects, returning the ids the rejects got (a sync keeps them, so that its rollback can take them out). */
export async function insertRejectsReturningIds(session: SqlSession, runId: string, rejects: readonly (Reject & { sqlstate?: string })[]): Promise<string[]> {
  if (rejects.length === 0) return [];
  const { rows } = await session.query<{ id: string }>(`${INSERT_REJECTS} returning id::text as id`, [runId, rejectsJson(rejects)]);
  return rows.map((row) => row.id);
}

const INSERT_REJECTS = `insert into kpi_migrate.rejects (run_id, source_entity, source_id, reason, attribute, message, sqlstate, item)
     select $1::bigint, r.source_entity, r.source_id, r.reason, r.attribute, r.message, r.sqlstate, r.item
     from jsonb_to_recordset($2::jsonb) as r(source_entity text, source_id text, reason text,
       attribute text, message text, sqlstate text, item jsonb)`;

function rejectsJson(rejects: readonly (Reject & { sqlstate?: string })[]): string {
  return `[${rejects.map((reject) => (reject as { [ENTRY]?: string })[ENTRY] ?? rejectEntry(reject)).join(',')}]`;
}

const ENTRY = Symbol('kpi-migrate.reject-entry');

/**
 * The reject with its entry (rejectEntry) made already, where its item was read: the thread that
 * stores it then neither rebuilds the item's tree nor encodes it again.
 */
export function withRejectEntry<R extends Reject>(reject: R, entry: string): R {
  Object.defineProperty(reject, ENTRY, { value: entry });
  return reject;
}

/** A reject as one element of the JSON array INSERT_REJECTS reads, its item as jsonb can hold it. */
export function rejectEntry(reject: Reject & { sqlstate?: string }): string {
  const item = storableItemJson(reject.item);
  const notes = [...item.adjustments];
  let sourceId = reject.sourceId;
  // source_id is indexed, and a btree entry holds at most about 2.7 kB: a longer one (garbage in
  // an Id) would fail the whole batch. The raw item keeps the Id whole.
  if (sourceId !== null && sourceId.length > MAX_INDEXED_SOURCE_ID) {
    notes.push(`source_id is the first ${MAX_INDEXED_SOURCE_ID} of its ${sourceId.length} characters; the item holds it whole`);
    sourceId = `${sourceId.slice(0, MAX_INDEXED_SOURCE_ID)}…`;
  }
  const message = notes.length === 0 ? reject.message : `${reject.message} (stored item: ${notes.join('; ')})`;
  return (
    `{"source_entity":${storableJson(reject.sourceEntity)},"source_id":${storableJson(sourceId)},` +
    `"reason":${storableJson(reject.reason)},"attribute":${storableJson(reject.attribute ?? null)},` +
    `"message":${storableJson(message)},"sqlstate":${storableJson(reject.sqlstate ?? null)},"item":${item.json}}`
  );
}
