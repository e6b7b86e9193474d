import { createHash } from 'node:crypto';
import { MigrateError } from '../errors.js';
import { databaseRefusalOf, targetFailure } from '../db/database-error.js';
import { quoteIdent } from '../db/identifiers.js';
import { checkProgressCacheTables, linksMissingFromCache, linksTouchedByRun, refreshProgressCache, type ProgressCacheRefresh } from './progress-cache.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';

/**
 * `kpi-migrate finalize` (contract §6): what the application's plans ask for once the data is in,
 * done so that a large live table is never locked for a whole scan.
 * 1. The foreign key kpi_data.kpi_link_id → kpi_links.id, found by its definition (whatever its
 *    name): added NOT VALID when missing (SHARE ROW EXCLUSIVE on both tables, for a catalog
 *    change only, under lock_timeout); the orphans listed, nothing deleted; VALIDATE CONSTRAINT
 *    in a transaction of its own, only when there are none (SHARE UPDATE EXCLUSIVE on kpi_data,
 *    ROW SHARE on kpi_links: reads and writes go on while it scans).
 * 2. The index on kpi_data (kpi_link_id, post_date): CREATE INDEX CONCURRENTLY when no valid
 *    index leads with those columns (SHARE UPDATE EXCLUSIVE; an invalid one of ours, left by an
 *    interrupted build, is dropped CONCURRENTLY first).
 * 3. The progress cache, recomputed for every link and goal.
 * Each step changes nothing when there is nothing to do, so a second finalize reports no change.
 */

export const FOREIGN_KEY_NAME = 'kpi_data_kpi_link_id_fkey';
export const LINK_DATE_INDEX_NAME = 'kpi_data_link_date_idx';
/** Session-level advisory lock (FINALIZE_LOCK_CLASS, hash of the schema): one finalize per schema at a time. */
export const FINALIZE_LOCK_CLASS = 7312004;
export const DEFAULT_ORPHAN_LIMIT = 50;
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

export interface FinalizeOptions {
  /** Orphan rows listed by id, at most (all are counted). */
  orphanLimit?: number;
  /** How long adding the foreign key may wait for its lock before giving up (it blocks writes while it waits). */
  lockTimeoutMs?: number;
  /** The steps, a line at a time. */
  progress?: (message: string) => void;
  /**
   * A converge run that just completed: only the cache rows of the links it touched are
   * recomputed (linksTouchedByRun), with those of links the cache lacks or that are gone
   * (linksMissingFromCache); all of it when the cache is empty (never computed).
   */
  touchedBy?: string;
}

export interface OrphanRow {
  id: string;
  kpiLinkId: string;
}

export interface ForeignKeyStep {
  constraint: string;
  /** What finalize found. */
  found: 'valid' | 'not_valid' | 'absent';
  /** What it did: added NOT VALID and/or validated, or nothing. */
  added: boolean;
  validated: boolean;
  /** The key is valid at the end. */
  valid: boolean;
  /** kpi_data rows whose link kpi_links does not hold (null: not looked for, the key was already valid). */
  orphanRows: number | null;
  orphans: OrphanRow[];
  seconds: number;
}

export interface IndexStep {
  name: string;
  found: 'valid' | 'invalid' | 'absent';
  created: boolean;
  /** An invalid index of ours (an interrupted CREATE INDEX CONCURRENTLY) was dropped first. */
  droppedInvalid: boolean;
  /** Invalid indexes on the same columns that are not ours: left alone, named for the operator. */
  otherInvalid: string[];
  seconds: number;
}

export interface ProgressCacheStep extends ProgressCacheRefresh {
  seconds: number;
}

export interface FinalizeOutcome {
  schema: string;
  foreignKey: ForeignKeyStep;
  index: IndexStep;
  progressCache: ProgressCacheStep;
  /** Anything at all changed (a second finalize says false). */
  changed: boolean;
  seconds: number;
}

export async function finalizeTarget(sql: SqlClient, schema: string, options: FinalizeOptions = {}): Promise<FinalizeOutcome> {
  const say = options.progress ?? (() => {});
  const started = performance.now();
  const held = await sql
    .holdAdvisoryLocks([{ classId: FINALIZE_LOCK_CLASS, objId: schemaKey(schema), mode: 'exclusive' }], `kpi-migrate-finalize ${schema}`)
    .catch((error: unknown) => {
      throw targetFailure(error, 'starting finalize');
    });
  if (held === undefined) {
    throw new MigrateError('RUN_BUSY', `another kpi-migrate finalize is working on schema ${schema}: nothing was done; run it again once that one has ended`);
  }
  try {
    say('foreign key kpi_data.kpi_link_id → kpi_links.id');
    const foreignKey = await timed(() => finalizeForeignKey(sql, schema, options));
    say(`index on kpi_data (kpi_link_id, post_date)`);
    const index = await timed(() => finalizeLinkDateIndex(sql, schema));
    say('progress cache');
    const progressCache = await timed(async () => {
      await checkProgressCacheTables(sql, schema);
      // No fencing token here (unlike a run's batches): the cache is recomputed whole from the
      // committed rows under a transaction-scoped lock, so a finalize that lost its session lock
      // and commits late writes what any finalize would, and counts nothing that could double.
      return sql.transaction(async (session) => refreshProgressCache(session, schema, await linksToRefresh(session, schema, options.touchedBy)));
    }).catch((error: unknown) => {
      throw targetFailure(error, 'computing the progress cache');
    });
    const cacheChanged = (['links', 'goals'] as const).some((t) => progressCache[t].inserted + progressCache[t].updated + progressCache[t].deleted > 0);
    return {
      schema,
      foreignKey,
      index,
      progressCache,
      changed: foreignKey.added || foreignKey.validated || index.created || index.droppedInvalid || cacheChanged,
      seconds: round((performance.now() - started) / 1000),
    };
  } finally {
    await held.release();
  }
}

/** Undefined (every link) unless a converge run's touched links suffice: the rest of the cache is as fresh as before it. */
async function linksToRefresh(session: SqlSession, schema: string, touchedBy: string | undefined): Promise<string[] | undefined> {
  if (touchedBy === undefined) return undefined;
  const { rows } = await session.query<{ cached: boolean }>(`select exists (select 1 from ${quoteIdent(schema)}.kpi_progress_cache) as cached`);
  if (rows[0]?.cached !== true) return undefined;
  return [...(await linksTouchedByRun(session, schema, touchedBy)), ...(await linksMissingFromCache(session, schema))];
}

async function timed<T extends object>(work: () => Promise<T>): Promise<T & { seconds: number }> {
  const started = performance.now();
  const result = await work();
  return { ...result, seconds: round((performance.now() - started) / 1000) };
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

function schemaKey(schema: string): number {
  return createHash('sha256').update(schema).digest().readInt32BE(0);
}

interface FoundKey {
  name: string;
  validated: boolean;
}

/** The foreign key by what it is (kpi_data (kpi_link_id) → kpi_links (id)), not by its name: the application may have named it. */
async function findForeignKey(session: SqlSession, schema: string): Promise<FoundKey | undefined> {
  const { rows } = await session.query<{ name: string; validated: boolean }>(
    `select c.conname as name, c.convalidated as validated
       from pg_constraint c
      where c.contype = 'f'
        and c.conrelid = to_regclass($1) and c.confrelid = to_regclass($2)
        and c.conkey = array[(select attnum from pg_attribute where attrelid = c.conrelid and attname = 'kpi_link_id')]::int2[]
        and c.confkey = array[(select attnum from pg_attribute where attrelid = c.confrelid and attname = 'id')]::int2[]
      order by c.convalidated desc, c.conname
      limit 1`,
    [`${quoteIdent(schema)}.kpi_data`, `${quoteIdent(schema)}.kpi_links`],
  );
  return rows[0];
}

async function finalizeForeignKey(sql: SqlClient, schema: string, options: FinalizeOptions): Promise<Omit<ForeignKeyStep, 'seconds'>> {
  const data = `${quoteIdent(schema)}.kpi_data`;
  const links = `${quoteIdent(schema)}.kpi_links`;
  const existing = await findForeignKey(sql, schema).catch((error: unknown) => {
    throw targetFailure(error, 'looking for the foreign key kpi_data.kpi_link_id → kpi_links.id');
  });
  const found = existing === undefined ? 'absent' : existing.validated ? 'valid' : 'not_valid';
  if (existing?.validated) {
    return { constraint: existing.name, found, added: false, validated: false, valid: true, orphanRows: null, orphans: [] };
  }
  const constraint = existing?.name ?? FOREIGN_KEY_NAME;
  let added = false;
  if (existing === undefined) {
    const timeout = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    await sql
      .transaction(async (tx) => {
        // Its SHARE ROW EXCLUSIVE locks are held for a catalog change only, but a request that
        // waits in the queue blocks every write behind it: better to give up and say so.
        await tx.query(`select set_config('lock_timeout', $1, true)`, [`${timeout}ms`]);
        await tx.query(`alter table ${data} add constraint ${quoteIdent(constraint)} foreign key (kpi_link_id) references ${links} (id) not valid`);
      })
      .catch((error: unknown) => {
        if (databaseRefusalOf(error)?.sqlstate === '55P03') {
          throw new MigrateError(
            'TARGET_UNAVAILABLE',
            `adding the foreign key ${constraint} NOT VALID waited ${timeout} ms for its lock on ${schema}.kpi_data and ${schema}.kpi_links (a long transaction holds them): nothing changed; run kpi-migrate finalize again`,
            { cause: error },
          );
        }
        throw targetFailure(error, `adding the foreign key ${constraint} NOT VALID`);
      });
    added = true;
  }
  // With the key in place (even NOT VALID) no new orphan can appear: the list below only shrinks.
  const { orphanRows, orphans } = await listOrphans(sql, data, links, options.orphanLimit ?? DEFAULT_ORPHAN_LIMIT).catch((error: unknown) => {
    throw targetFailure(error, 'listing kpi_data rows without their link');
  });
  if (orphanRows > 0) return { constraint, found, added, validated: false, valid: false, orphanRows, orphans };
  await sql
    .transaction((tx) => tx.query(`alter table ${data} validate constraint ${quoteIdent(constraint)}`))
    .catch((error: unknown) => {
      throw targetFailure(error, `validating the foreign key ${constraint}`);
    });
  return { constraint, found, added, validated: true, valid: true, orphanRows, orphans };
}

async function listOrphans(session: SqlSession, data: string, links: string, limit: number): Promise<{ orphanRows: number; orphans: OrphanRow[] }> {
  const orphan = `d.kpi_link_id is not null and not exists (select 1 from ${links} l where l.id = d.kpi_link_id)`;
  const { rows: counted } = await session.query<{ n: string }>(`select count(*)::text as n from ${data} d where ${orphan}`);
  const orphanRows = Number(counted[0]?.n ?? 0);
  if (orphanRows === 0) return { orphanRows, orphans: [] };
  const { rows } = await session.query<{ id: string; kpi_link_id: string }>(
    `select d.id::text as id, d.kpi_link_id::text as kpi_link_id from ${data} d where ${orphan} order by d.id limit $1`,
    [limit],
  );
  return { orphanRows, orphans: rows.map((row) => ({ id: row.id, kpiLinkId: row.kpi_link_id })) };
}

interface FoundIndex {
  name: string;
  valid: boolean;
  columns: string[];
}

async function finalizeLinkDateIndex(sql: SqlClient, schema: string): Promise<Omit<IndexStep, 'seconds'>> {
  const { rows } = await sql
    .query<{ name: string; valid: boolean; columns: string }>(
      `select i.relname as name, ix.indisvalid and ix.indisready as valid,
              array_to_string(array(select a.attname from unnest(ix.indkey::int2[]) with ordinality k(n, o)
                join pg_attribute a on a.attrelid = ix.indrelid and a.attnum = k.n order by k.o), ',') as columns
         from pg_index ix join pg_class i on i.oid = ix.indexrelid
        where ix.indrelid = to_regclass($1) and ix.indpred is null and ix.indexprs is null`,
      [`${quoteIdent(schema)}.kpi_data`],
    )
    .catch((error: unknown) => {
      throw targetFailure(error, 'looking for the index on kpi_data (kpi_link_id, post_date)');
    });
  const matching: FoundIndex[] = rows
    .map((row) => ({ name: row.name, valid: row.valid, columns: row.columns.split(',') }))
    .filter((index) => index.columns[0] === 'kpi_link_id' && index.columns[1] === 'post_date');
  const valid = matching.find((index) => index.valid);
  if (valid !== undefined) return { name: valid.name, found: 'valid', created: false, droppedInvalid: false, otherInvalid: [] };
  const ours = matching.find((index) => index.name === LINK_DATE_INDEX_NAME);
  const otherInvalid = matching.filter((index) => index.name !== LINK_DATE_INDEX_NAME).map((index) => index.name);
  const qualified = `${quoteIdent(schema)}.${quoteIdent(LINK_DATE_INDEX_NAME)}`;
  try {
    // Both outside any transaction (CONCURRENTLY refuses one): sql.query autocommits.
    if (ours !== undefined) await sql.query(`drop index concurrently if exists ${qualified}`);
    await sql.query(`create index concurrently ${quoteIdent(LINK_DATE_INDEX_NAME)} on ${quoteIdent(schema)}.kpi_data (kpi_link_id, post_date)`);
  } catch (error) {
    throw targetFailure(error, `creating the index ${LINK_DATE_INDEX_NAME} CONCURRENTLY (an interrupted build leaves it invalid: kpi-migrate finalize drops and rebuilds it)`);
  }
  return { name: LINK_DATE_INDEX_NAME, found: matching.length > 0 ? 'invalid' : 'absent', created: true, droppedInvalid: ours !== undefined, otherInvalid };
}

/** The console lines of a finalize: what was found, what was done, what is left to the operator. */
export function describeFinalize(outcome: FinalizeOutcome): string[] {
  const { foreignKey: fk, index, progressCache: cache } = outcome;
  const lines: string[] = [];
  if (fk.found === 'valid') lines.push(`foreign key ${fk.constraint}: present and valid, nothing to do`);
  else {
    const start = fk.added ? `added NOT VALID (it was missing)` : `present but NOT VALID`;
    if (fk.validated) lines.push(`foreign key ${fk.constraint}: ${start}; no orphan rows; validated (VALIDATE CONSTRAINT in its own transaction)`);
    else {
      lines.push(`foreign key ${fk.constraint}: ${start}; NOT validated: ${fk.orphanRows} kpi_data row(s) point to a link kpi_links does not hold (nothing was deleted):`);
      for (const orphan of fk.orphans) lines.push(`  kpi_data ${orphan.id} → missing link ${orphan.kpiLinkId}`);
      if ((fk.orphanRows ?? 0) > fk.orphans.length) lines.push(`  … ${fk.orphanRows! - fk.orphans.length} more`);
      lines.push('  fix or remove them, then run kpi-migrate finalize again to validate the key');
    }
  }
  if (!index.created) lines.push(`index ${index.name} on kpi_data (kpi_link_id, post_date): present and valid, nothing to do`);
  else {
    const why = index.droppedInvalid ? 'its invalid remains dropped and rebuilt' : 'it was missing';
    lines.push(`index ${index.name} on kpi_data (kpi_link_id, post_date): created CONCURRENTLY (${why})`);
  }
  for (const name of index.otherInvalid) lines.push(`  the invalid index ${name} on the same columns is not ours: left alone (drop it with DROP INDEX CONCURRENTLY)`);
  const changes = (t: 'links' | 'goals') => `${cache[t].inserted} inserted, ${cache[t].updated} updated, ${cache[t].deleted} deleted`;
  const scope = cache.scope === 'links' ? ', recomputed for the links the run touched and the other links of their goals' : '';
  lines.push(`progress cache: ${cache.links.computed} link(s) (${changes('links')}), ${cache.goals.computed} goal(s) (${changes('goals')})${scope}`);
  lines.push(outcome.changed ? `finalize done in ${outcome.seconds.toFixed(1)} s` : `finalize: nothing changed (${outcome.seconds.toFixed(1)} s)`);
  return lines;
}
