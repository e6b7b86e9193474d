import type { LegacySource } from '../model/source.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { SqlSession } from '../db/sql-client.js';
import type { LegacyEntity, LinkIndex, LinkLookups, MigratedEntity } from '../transform/index.js';
import { mapAgain } from './expectations.js';
import type { RejectLedger } from './reject-ledger.js';
import { check, DifferenceList, type CheckResult } from './report.js';
import { scopeCondition, scopeParams, targetRows, type TargetScope } from './row-digest.js';
import { canonicalSql, CONTRACT_COLUMNS, rowCanonicaliser, type TargetTableName } from './target-columns.js';

export interface SampledRecord {
  entity: MigratedEntity;
  sourceId: string;
}

type Candidate = SampledRecord & { priority: number };

/**
 * N records chosen at random but reproducibly: those whose seeded hash of (entity, Id) is
 * smallest. The choice depends on the seed and the source's contents only, not on the order a
 * parallel scan happens to return items in. Memory: at most 2N candidates.
 */
export class SampleChooser {
  #candidates: Candidate[] = [];
  readonly #keys = new Set<string>();
  /** Once `size` records are kept, the priority of the last: a record above it can never be chosen. */
  #bound = Infinity;

  constructor(
    readonly size: number,
    readonly seed: number,
  ) {}

  offer(entity: MigratedEntity, sourceId: string): void {
    if (this.size <= 0) return;
    const priority = seededHash(entity, sourceId, this.seed);
    // Most records end here: `size` others, each a different record, sort before it.
    if (priority > this.#bound) return;
    this.#candidates.push({ entity, sourceId, priority });
    if (this.#candidates.length >= 2 * this.size + 64) this.#trim();
  }

  /**
   * Which of an entity's records this chooser's sample could still hold (their priority is at most
   * the one of its last record): a sample chosen later from more records, this chooser's among
   * them, holds no other. Undefined while it holds fewer than `size` records: it could hold any.
   */
  couldChoose(entity: MigratedEntity): ((sourceId: string) => boolean) | undefined {
    if (this.size <= 0) return () => false;
    this.#trim();
    const bound = this.#bound;
    if (bound === Infinity) return undefined;
    const seed = this.seed;
    return (sourceId) => seededHash(entity, sourceId, seed) <= bound;
  }

  chosen(): SampledRecord[] {
    this.#trim();
    return this.#candidates.map(({ entity, sourceId }) => ({ entity, sourceId }));
  }

  #trim(): void {
    this.#candidates.sort((a, b) => a.priority - b.priority || (a.entity + a.sourceId < b.entity + b.sourceId ? -1 : 1));
    this.#keys.clear();
    const kept: Candidate[] = [];
    for (const candidate of this.#candidates) {
      const key = `${candidate.entity}\u0000${candidate.sourceId}`;
      if (this.#keys.has(key)) continue;
      this.#keys.add(key);
      kept.push(candidate);
      if (kept.length === this.size) break;
    }
    this.#candidates = kept;
    if (kept.length === this.size && this.size > 0) this.#bound = kept[kept.length - 1]!.priority;
  }
}

/** cyrb53 of `${entity}\u0000${sourceId}`: a fast 53-bit string hash; good enough to spread a sample, not for security. */
function seededHash(entity: string, sourceId: string, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  // The two texts and the separator between them, without the concatenated string.
  for (let i = 0; i < entity.length; i++) {
    const code = entity.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1, 2654435761);
  h2 = Math.imul(h2, 1597334677);
  for (let i = 0; i < sourceId.length; i++) {
    const code = sourceId.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

export interface SampleContext {
  sql: SqlSession;
  source: LegacySource;
  scope: TargetScope;
  lookups: LinkLookups;
  links: LinkIndex;
  ledger: RejectLedger;
  runName: string;
  limit: number;
  seed: number;
  requested: number;
}

const tableOf = (entity: MigratedEntity): TargetTableName => (entity === 'GoalKpiLink' ? 'kpi_links' : 'kpi_data');

/**
 * Each sampled record read again by key from the source (GetItem/BatchGetItem, the export files,
 * the kv table), mapped again, and compared column by column with its rows in the target; a
 * record that should be a reject must be one, with the same reason, and have no rows.
 */
export async function checkSamples(
  context: SampleContext,
  sampled: readonly SampledRecord[],
  /** Items some entities' records already read again by key (recountAndReadByKey), for these records and maybe others. */
  readBefore: ReadonlyMap<MigratedEntity, readonly LegacyItem[]> = new Map(),
  /** These records' target rows, when their reading was started before (readSampleTargetRows). */
  targetRowsRead?: SampleTargetRows,
): Promise<CheckResult> {
  const list = new DifferenceList(context.limit);
  const byEntity = sampledIdsByEntity(sampled);
  let rowsCompared = 0;
  let rejectsConfirmed = 0;
  const perEntity: Record<string, number> = {};
  // Every entity's records are read again at once (a read of a whole export file each), while the
  // target's rows are read one entity after another, one query at a time on the connection (unless
  // their reading was started before: readSampleTargetRows).
  const reads = [...byEntity].map(([entity, ids]) => {
    const read = readBefore.get(entity);
    return read === undefined ? started(context.source.getItems(entity, ids)) : Promise.resolve(read);
  });
  for (const [at, [entity, ids]] of [...byEntity].entries()) {
    perEntity[entity] = ids.length;
    const table = tableOf(entity);
    const columns = CONTRACT_COLUMNS[table];
    const targetRows = await (targetRowsRead?.get(entity) ?? targetRowsOf(context.sql, context.scope, table, entity, ids));
    const items = new Map((await reads[at]!).map((item) => [item.Id as string, item]));
    for (const sourceId of ids) {
      const named = `${entity} ${sourceId}`;
      const found = targetRows.get(sourceId) ?? new Map<string, (string | null)[]>();
      const item = items.get(sourceId);
      if (item === undefined) {
        list.add({ kind: 'not_found_by_key', entity, sourceId, message: `${named} was read in the full pass but not found again by its key in the source` });
        continue;
      }
      const again = mapAgain(entity, item, { lookups: context.lookups, links: context.links, tenant: context.scope.tenant });
      const reasons = context.ledger.reasonsOf(entity, sourceId);
      const refused = reasons.some((reason) => reason === 'id_conflict' || reason === 'db_error');
      if (again.skipped || !again.mapped.ok || refused) {
        if (!again.skipped && !again.mapped.ok) {
          const wanted = again.mapped.reject.reason;
          if (!reasons.includes(wanted)) {
            list.add({
              kind: reasons.length === 0 ? 'missing_reject' : 'reason_differs', entity, sourceId, expected: wanted, found: reasons[0] ?? null,
              message: reasons.length === 0
                ? `${named} should be a ${wanted} reject (${again.mapped.reject.message}), but ${context.runName} has no reject for it`
                : `${named} should be a ${wanted} reject, but ${context.runName} rejected it as ${reasons.join(', ')}`,
            });
          } else rejectsConfirmed += 1;
        } else if (refused) rejectsConfirmed += 1;
        for (const [id, values] of found) {
          list.add({
            kind: 'extra_row', table, id, entity, sourceId,
            message: `${named} has no rows to migrate (${again.skipped ? 'outside the run’s tenant' : 'it is a reject'}), but ${table} holds row ${id}${table === 'kpi_data' ? ` (link ${values[1]})` : ''}`,
          });
        }
        continue;
      }
      const canonical = rowCanonicaliser(table, columns);
      const expected = new Map(again.mapped.rows.map((row) => {
        const values = canonical(row);
        return [values[0] ?? '', values] as const;
      }));
      for (const [id, want] of expected) {
        const got = found.get(id);
        if (got === undefined) {
          list.add({ kind: 'missing_row', table, id, entity, sourceId, message: `${table} row ${id} of ${named} is not in the target` });
          continue;
        }
        rowsCompared += 1;
        columns.forEach((column, i) => {
          if (want[i] === got[i]) return;
          list.add({
            kind: 'changed_value', table, id, entity, sourceId, column, expected: want[i] ?? null, found: got[i] ?? null,
            message: `${table} row ${id} of ${named}: ${column} is ${shown(got[i] ?? null)}, expected ${shown(want[i] ?? null)}`,
          });
        });
      }
      for (const id of found.keys()) {
        if (!expected.has(id)) {
          list.add({ kind: 'extra_row', table, id, entity, sourceId, message: `${table} row ${id} claims to come from ${named}, which does not produce it` });
        }
      }
    }
  }
  const evidence = {
    requested: context.requested,
    seed: context.seed,
    sampled: sampled.length,
    perEntity,
    rowsCompared,
    rejectsConfirmed,
    columnsCompared: { kpi_links: CONTRACT_COLUMNS.kpi_links.length, kpi_data: CONTRACT_COLUMNS.kpi_data.length },
  };
  if (sampled.length === 0) return check('samples', 'skipped', 'no record sampled (--sample 0, or nothing to sample)', evidence, list);
  return list.found === 0
    ? check('samples', 'passed', `${sampled.length} records re-read by key: ${rowsCompared} rows equal in every column, ${rejectsConfirmed} rejects confirmed (seed ${context.seed})`, evidence, list)
    : check('samples', 'failed', `${list.found} difference(s) among ${sampled.length} records re-read by key (seed ${context.seed})`, evidence, list);
}

/** Tables recounted, and the items of their sample candidates read again by key. */
export interface SourceReread {
  counts: Map<LegacyEntity, number>;
  items: Map<MigratedEntity, LegacyItem[]>;
}

/**
 * Each table's recount and, for its sample candidates, its items read again by key, all tables at
 * once; one read of a table for both where the source reads a table whole to find items by key
 * (export files). A sample's candidates are known when the pass over their tables is done: the
 * sample's records of those tables are among them, and reading an item by key for more ids gives
 * the same item.
 */
export async function recountAndReadByKey(source: LegacySource, entities: readonly LegacyEntity[], candidates: readonly SampledRecord[]): Promise<SourceReread> {
  const idsOf = sampledIdsByEntity(candidates);
  const reread: SourceReread = { counts: new Map(), items: new Map() };
  await Promise.all(
    entities.map(async (entity) => {
      const ids = idsOf.get(entity as MigratedEntity) ?? [];
      if (ids.length === 0) {
        reread.counts.set(entity, await source.countItems(entity));
        return;
      }
      const { count, items } = source.countAndGetItems
        ? await source.countAndGetItems(entity, ids)
        : await Promise.all([source.countItems(entity), source.getItems(entity, ids)]).then(([count, items]) => ({ count, items }));
      reread.counts.set(entity, count);
      reread.items.set(entity as MigratedEntity, items);
    }),
  );
  return reread;
}

/** The records' source ids by entity, in the order given. */
function sampledIdsByEntity(sampled: readonly SampledRecord[]): Map<MigratedEntity, string[]> {
  const byEntity = new Map<MigratedEntity, string[]>();
  for (const { entity, sourceId } of sampled) {
    const ids = byEntity.get(entity);
    if (ids === undefined) byEntity.set(entity, [sourceId]);
    else ids.push(sourceId);
  }
  return byEntity;
}

/** The sampled records' target rows, by entity and source id, as checkSamples reads them. */
export type SampleTargetRows = ReadonlyMap<MigratedEntity, Promise<Map<string, Map<string, (string | null)[]>>>>;

/**
 * The reading of the sampled records' target rows, started for checkSamples as soon as the sample
 * is known (each entity's on a connection of its own, when `sql` is a pool), while the source's
 * last table is still read again.
 */
export function readSampleTargetRows(sql: SqlSession, scope: TargetScope, sampled: readonly SampledRecord[]): SampleTargetRows {
  return new Map([...sampledIdsByEntity(sampled)].map(([entity, ids]) => [entity, started(targetRowsOf(sql, scope, tableOf(entity), entity, ids))]));
}

/** Every contract column (canonical text) of the target rows of these records, by source id then row id. */
async function targetRowsOf(
  sql: SqlSession,
  scope: TargetScope,
  table: TargetTableName,
  entity: MigratedEntity,
  sourceIds: readonly string[],
): Promise<Map<string, Map<string, (string | null)[]>>> {
  const columns = CONTRACT_COLUMNS[table];
  const { rows } = await sql.query<Record<string, string | null>>(
    `select ${columns.map((name, i) => `${canonicalSql(table, name)} as c${i}`).join(', ')}
     from ${targetRows(scope, table)} t
     where t.source_entity = $1 and t.source_id = any($2::text[]) and ${scopeCondition(table, scope, 3)}`,
    [entity, textArray(sourceIds), ...scopeParams(scope, table)],
  );
  const bySource = new Map<string, Map<string, (string | null)[]>>();
  const sourceAt = columns.indexOf('source_id');
  for (const row of rows) {
    const values = columns.map((_, i) => row[`c${i}`] ?? null);
    const sourceId = values[sourceAt] ?? '';
    const byId = bySource.get(sourceId) ?? new Map<string, (string | null)[]>();
    byId.set(values[0] ?? '', values);
    bySource.set(sourceId, byId);
  }
  return bySource;
}

/** A promise awaited later: its failure, if any, is thrown there, not reported unhandled meanwhile. */
export function started<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

function textArray(values: readonly string[]): string {
  return `{${values.map((value) => `"${value.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}

function shown(value: string | null): string {
  if (value === null) return 'NULL';
  return value.length > 200 ? `${JSON.stringify(value.slice(0, 200))}…` : JSON.stringify(value);
}
