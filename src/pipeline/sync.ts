import type { ChangePage, ChangePositions, SourceChange } from '../model/change.js';
import { compareWriteOrder } from '../model/change.js';
import { DATA_ENTITIES, LEGACY_ENTITIES, type DataEntity, type LegacyEntity, type MigratedEntity } from '../model/entities.js';
import type { LegacySource } from '../model/source.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { targetFailure } from '../db/database-error.js';
import { quoteIdent } from '../db/identifiers.js';
import { MigrateError } from '../errors.js';
import { applyMigrations } from '../load/migrate.js';
import { claimRun, guardedByClaim } from '../load/run-claim.js';
import { findRun, finishRun, startRun, type RunRecord } from '../load/ledger.js';
import { prepareRecord, type LoadReject, type PreparedRecord, type TargetRow } from '../load/prepare-record.js';
import { refreshProgressCache } from '../load/progress-cache.js';
import { readRecordedLayout } from '../load/target-ownership.js';
import { resolveIdConflicts, type RowHolder } from '../load/id-conflicts.js';
import {
  advanceChangePositions,
  clearImage,
  copyImageRecords,
  imageBuiltAt,
  imageRecordsByKey,
  imageRecordsOf,
  imageRecordsOfKpis,
  imageRecordsOfTenants,
  loadChangePositions,
  markImageBuilt,
  storeImageRecords,
  type ChangePositionAdvance,
  type ImageRecord,
} from '../load/source-image.js';
import {
  deleteToolRows,
  holdersOfRows,
  toolWrittenLinks,
  rejectedRecords,
  replaceRejects,
  recordsOnKpiLinks,
  rowsOfRecords,
  upsertRecordRows,
  type SyncTarget,
  type RecordKey,
  type TargetTableName,
} from '../load/sync-writer.js';
import {
  mapGoalKpiLink,
  mapKpiActual,
  mapKpiMilestone,
  mapKpiReading,
  parseKpi,
  parsePerson,
  type KpiDataRow,
  type KpiLinkRow,
  type LegacyItem,
  type LinkIndex,
  type MappingResult,
  type Reject,
  toJsonText,
} from '../transform/index.js';
import { itemFromWire, itemToWire } from './item-wire.js';
import { ConflictLosers, imageKeysOf, SyncLinks, SyncLookups, type KpiKey } from './sync-state.js';

/** What a sync session is asked to do: apply a change source to what a full run wrote (contract §5). */
export interface SyncRequest {
  sql: SqlClient;
  targetSchema: string;
  /** The full run (an id) whose target the changes are applied to. */
  baseRunId: string;
  /**
   * The changes since the positions the syncs of the run committed (from any change source: a
   * stream, incremental exports). Ends when drained (`--until-caught-up`) or when `signal` aborts.
   */
  changes(from: ChangePositions, signal: AbortSignal): AsyncIterable<ChangePage>;
  /**
   * The tables as the full run read them, for the source image when the run has none yet (the
   * first sync of a run): read whole once, before any change is applied.
   */
  imageSource(): Promise<LegacySource>;
  /** Changes per transaction (at most; fewer when the source has no more right now). */
  batchChanges?: number;
  environment: string;
  /** Recorded in the sync's ledger row: what the operator asked for (no secrets). */
  ledgerOptions: Record<string, unknown>;
  codeVersion: string;
  configHash: string;
  /** Stops the session between batches (SIGINT, SIGTERM): what was committed stays. */
  signal?: AbortSignal;
  progress?: SyncProgressSink;
}

/** What a sync did to one legacy table's records. */
export interface EntitySyncCounts {
  /** Changes read from the source. */
  changes: number;
  /** Changes older than (or the same as) what the image holds already: they changed nothing. */
  stale: number;
  /** Target rows of the table's records inserted, updated (old image kept), deleted (old image kept), written again as they were. */
  inserted: number;
  updated: number;
  deleted: number;
  unchanged: number;
  /** Rejects recorded for its records (new or again), and rejects of its records removed (before re-deriving them). */
  rejectsRecorded: number;
  rejectsRemoved: number;
}

/** What one sync session did so far. */
export interface SyncFigures {
  batches: number;
  changes: number;
  stale: number;
  entities: Partial<Record<LegacyEntity, EntitySyncCounts>>;
  /** Seconds and records the source is behind the present after the last batch (null: not known). */
  lagSeconds: number | null;
  recordsBehind: number | null;
}

export interface SyncProgressSink {
  batch?(figures: Readonly<SyncFigures>): void;
  message?(text: string): void;
}

export interface SyncResult {
  syncRunId: string;
  baseRunId: string;
  /** 'drained': the source had nothing more (caught up); 'stopped': the signal ended it between batches. */
  ended: 'drained' | 'stopped';
  figures: SyncFigures;
  startedAt: Date;
  finishedAt: Date;
}

export const DEFAULT_SYNC_BATCH_CHANGES = 2_000;

/**
 * Applies the changes made to the source since a full run (or its last sync) to the target, so
 * that the target is what one fresh run of the source's latest state writes (contract §5):
 * batch by batch, each in one transaction with the change positions it advances, the rows it
 * writes or removes (old images in row_history, under this sync's own run id), the rejects it
 * changes and the source image it updates. Killed at any moment, it continues where it stopped.
 */
export async function syncChanges(request: SyncRequest): Promise<SyncResult> {
  const { sql } = request;
  await applyMigrations(sql, request.targetSchema);
  const base = await syncableRun(sql, request.baseRunId, request.targetSchema);
  // One sync of a run at a time: its batches depend on the image and positions the last one left.
  const claim = await claimRun(sql, { runId: base.id });
  const startedAt = new Date();
  let syncRunId: string | undefined;
  try {
    const guarded = guardedByClaim(sql, claim);
    const signal = request.signal ?? new AbortController().signal;
    const changes = request.changes(await loadChangePositions(sql, base.id), signal)[Symbol.asyncIterator]();
    try {
      // The source says first whether it can follow the run at all (no stream, a trimmed position):
      // then nothing is written, not even the image or the sync's own run.
      const first = await changes.next();
      if ((await imageBuiltAt(sql, base.id)) === null) await buildImage(guarded, request, base.id);
      syncRunId = await startSyncRun(guarded, request, base);
      const engine = await SyncEngine.open(guarded, request, base.id, syncRunId);
      const ended = await engine.run(first, changes, signal);
      await guarded.transaction((tx) => finishRun(tx, syncRunId!, 'completed'));
      return { syncRunId, baseRunId: base.id, ended, figures: engine.figures, startedAt, finishedAt: new Date() };
    } finally {
      await changes.return?.();
    }
  } catch (error) {
    const failure = targetFailure(error, `sync of run ${base.id}`);
    if (syncRunId !== undefined && failure.code !== 'RUN_CLAIM_LOST') {
      await sql.transaction((tx) => finishRun(tx, syncRunId!, 'failed', { code: failure.code, message: failure.message })).catch(() => {});
    }
    throw failure;
  } finally {
    await claim.release();
  }
}

/** The run a sync continues: a completed, real, whole-source run into this schema. */
async function syncableRun(sql: SqlSession, runId: string, schema: string): Promise<RunRecord> {
  const run = await findRun(sql, runId);
  if (run === undefined) throw new MigrateError('RUN_NOT_FOUND', `run ${runId} does not exist`);
  const refuse = (why: string): never => {
    throw new MigrateError('RUN_STATE', `run ${run.id} cannot be synced: ${why}`);
  };
  if (run.targetSchema !== schema) refuse(`it wrote to schema ${run.targetSchema}, not ${schema}`);
  if (run.dryRun) refuse('it was a dry run (it wrote nothing to follow)');
  if (run.status !== 'completed') refuse(`it is ${run.status}: finish it first (kpi-migrate run --resume ${run.id})`);
  if (typeof run.options.tenant === 'string') refuse('it migrated one tenant only; a sync follows every tenant: start a full run without --tenant');
  const { rows } = await sql.query<{ sync_of: string | null }>('select sync_of::text as sync_of from kpi_migrate.runs where id = $1::bigint', [run.id]);
  if (rows[0]?.sync_of != null) refuse(`it is itself a sync of run ${rows[0].sync_of}: name that run`);
  return run;
}

async function startSyncRun(sql: SqlClient, request: SyncRequest, base: RunRecord): Promise<string> {
  return sql.transaction(async (tx) => {
    const id = await startRun(tx, {
      environment: request.environment,
      sourceKind: base.sourceKind,
      targetSchema: request.targetSchema,
      options: { ...request.ledgerOptions, syncOf: base.id },
      codeVersion: request.codeVersion,
      configHash: request.configHash,
      dryRun: false,
    });
    await tx.query('update kpi_migrate.runs set sync_of = $2::bigint where id = $1::bigint', [id, base.id]);
    return id;
  });
}

/**
 * The run's source image, read whole from the tables in one transaction (an interrupted build
 * leaves nothing, and starts over). Read after the run, it may hold newer states than the run
 * read: every record changed since is in the change source from the run's start on, so applying
 * the changes brings it and the target to the same state.
 */
async function buildImage(sql: SqlClient, request: SyncRequest, runId: string): Promise<void> {
  request.progress?.message?.(`sync: reading the source image of run ${runId} (once, before its first sync)`);
  const source = await request.imageSource();
  try {
    await sql.transaction(async (tx) => {
      await clearImage(tx, runId);
      for (const entity of LEGACY_ENTITIES) {
        let count = 0;
        for await (const page of source.readTable(entity)) {
          const records = page.items.map((item): ImageRecord => ({ entity, sourceId: sourceIdOf(item), item: itemToWire(item), ...imageKeysOf(entity, item), writeOrder: null }));
          await copyImageRecords(tx, runId, records.filter((record) => record.sourceId !== ''));
          count += records.length;
        }
        request.progress?.message?.(`sync: image of ${entity}: ${count} record(s)`);
      }
      await markImageBuilt(tx, runId);
    });
  } finally {
    await source.close();
  }
}

function sourceIdOf(item: LegacyItem): string {
  return typeof item.Id === 'string' ? item.Id : '';
}

type Mapping = MappingResult<KpiLinkRow | KpiDataRow> & { personFallback?: boolean };

const DATA_MAPPERS: Record<DataEntity, (item: LegacyItem, links: LinkIndex) => MappingResult<KpiDataRow>> = {
  KpiMilestone: mapKpiMilestone,
  KpiActual: mapKpiActual,
  KpiReading: mapKpiReading,
};

/** A record of the scope of a batch, re-derived from the image. */
interface Derived {
  key: RecordKey & { entity: MigratedEntity };
  item: LegacyItem | null;
  mapping: Mapping | null;
}

const keyText = (entity: string, sourceId: string): string => `${entity}\u0000${sourceId}`;

/** A batch's changes, effective ones only (the newest per record, newer than the image's). */
interface AppliedChange {
  entity: LegacyEntity;
  sourceId: string;
  item: LegacyItem | null;
}

class SyncEngine {
  readonly figures: SyncFigures = { batches: 0, changes: 0, stale: 0, entities: {}, lagSeconds: null, recordsBehind: null };
  #progressCache = false;
  readonly #losers: Record<TargetTableName, ConflictLosers<RecordKey>> = { kpi_links: new ConflictLosers(), kpi_data: new ConflictLosers() };

  private constructor(
    private readonly sql: SqlClient,
    private readonly request: SyncRequest,
    private readonly baseRunId: string,
    private readonly syncRunId: string,
    private readonly lookups: SyncLookups,
    private readonly links: SyncLinks,
    private readonly target: SyncTarget,
  ) {}

  /** Lookups from the image; the links facts fan out to from the target (what its fact rows were derived with). */
  static async open(sql: SqlClient, request: SyncRequest, baseRunId: string, syncRunId: string): Promise<SyncEngine> {
    const lookups = new SyncLookups();
    for (const entity of ['Kpi', 'Person'] as const) {
      for await (const page of imageRecordsOf(sql, baseRunId, entity)) {
        for (const record of page) {
          const item = itemFromWire(record.item!);
          if (entity === 'Kpi') lookups.setKpi(record.sourceId, item);
          else lookups.setPerson(record.sourceId, item);
        }
      }
    }
    const target: SyncTarget = { schema: request.targetSchema, layout: await readRecordedLayout(sql, request.targetSchema) };
    const links = new SyncLinks();
    for (const row of await toolWrittenLinks(sql, target)) links.set(row.source_id, row);
    const engine = new SyncEngine(sql, request, baseRunId, syncRunId, lookups, links, target);
    const { rows } = await sql.query<{ found: boolean }>(`select to_regclass($1) is not null as found`, [`${quoteIdent(request.targetSchema)}.kpi_progress_cache`]);
    engine.#progressCache = rows[0]?.found === true;
    await engine.loadLosers();
    return engine;
  }

  /** The run's id_conflict losers, with the row ids their records claim as the run's mappers derive them now. */
  private async loadLosers(): Promise<void> {
    for (const [table, entities] of [['kpi_links', ['GoalKpiLink']], ['kpi_data', DATA_ENTITIES]] as const) {
      const keys = await rejectedRecords(this.sql, this.baseRunId, entities, ['id_conflict']);
      for (const record of await imageRecordsByKey(this.sql, this.baseRunId, keys)) {
        if (record.item === null) continue;
        const mapping = this.map(record.entity as MigratedEntity, itemFromWire(record.item));
        if (mapping.ok) this.#losers[table].set(keyText(record.entity, record.sourceId), { entity: record.entity, sourceId: record.sourceId }, mapping.rows.map((row) => row.id));
      }
    }
  }

  private counts(entity: LegacyEntity): EntitySyncCounts {
    return (this.figures.entities[entity] ??= { changes: 0, stale: 0, inserted: 0, updated: 0, deleted: 0, unchanged: 0, rejectsRecorded: 0, rejectsRemoved: 0 });
  }

  /** Applies the pages (`first`, then the rest of `pages`) batch by batch, until the source ends or `signal` aborts. */
  async run(first: IteratorResult<ChangePage>, pages: AsyncIterator<ChangePage>, signal: AbortSignal): Promise<'drained' | 'stopped'> {
    const limit = this.request.batchChanges ?? DEFAULT_SYNC_BATCH_CHANGES;
    let changes: SourceChange[] = [];
    const advances = new Map<string, ChangePositionAdvance>();
    const flush = async (): Promise<void> => {
      if (changes.length === 0 && advances.size === 0) return;
      await this.applyBatch(changes, [...advances.values()]);
      changes = [];
      advances.clear();
    };
    for (let next = first; !next.done; next = await pages.next()) {
      const page = next.value;
      changes.push(...page.changes);
      advances.set(keyText(page.entity, page.partition), { entity: page.entity, partition: page.partition, position: page.position, done: page.done });
      if (page.behind !== undefined) {
        this.figures.lagSeconds = page.behind.seconds;
        this.figures.recordsBehind = page.behind.records;
      }
      // A page without changes is the source saying it has nothing more right now: what is pending goes.
      if (changes.length >= limit || page.changes.length === 0 || page.done) await flush();
      if (signal.aborted) break;
    }
    await flush();
    return signal.aborted ? 'stopped' : 'drained';
  }

  /** One transaction: the changes into the image, their scope re-derived and written, the positions advanced. */
  private async applyBatch(changes: readonly SourceChange[], advances: readonly ChangePositionAdvance[]): Promise<void> {
    const before = structuredClone(this.figures);
    try {
      await this.sql.transaction(async (tx) => {
        await assertSyncRunning(tx, this.syncRunId);
        for (const change of changes) this.counts(change.entity).changes += 1;
        const applied = await this.applyToImage(tx, changes);
        // A batch that changed no record (positions only: a window's end, stale changes) has nothing to re-derive.
        if (applied.length > 0) await this.rederive(tx, applied);
        await advanceChangePositions(tx, this.baseRunId, advances);
        await this.storeCounts(tx);
      });
    } catch (error) {
      // Nothing of the batch was committed: neither are its figures.
      Object.assign(this.figures, before);
      throw error;
    }
    this.figures.batches += 1;
    this.figures.changes += changes.length;
    this.request.progress?.batch?.(structuredClone(this.figures));
  }

  /** Last writer wins per record, by write order as an integer: an older or repeated change changes nothing. */
  private async applyToImage(tx: SqlSession, changes: readonly SourceChange[]): Promise<AppliedChange[]> {
    const keys = new Map<string, RecordKey>();
    for (const change of changes) keys.set(keyText(change.entity, change.sourceId), { entity: change.entity, sourceId: change.sourceId });
    const current = new Map<string, ImageRecord>();
    for (const record of await imageRecordsByKey(tx, this.baseRunId, [...keys.values()])) current.set(keyText(record.entity, record.sourceId), record);
    const next = new Map<string, { record: ImageRecord; item: LegacyItem | null }>();
    for (const change of changes) {
      const key = keyText(change.entity, change.sourceId);
      const held = next.get(key)?.record ?? current.get(key);
      if (held?.writeOrder != null && compareWriteOrder(change.writeOrder, held.writeOrder) <= 0) {
        this.figures.stale += 1;
        this.counts(change.entity).stale += 1;
        continue;
      }
      const item = change.newImage;
      next.set(key, {
        item,
        record: {
          entity: change.entity,
          sourceId: change.sourceId,
          item: item === null ? null : itemToWire(item),
          ...(item === null ? { tenantId: held?.tenantId ?? null, kpiId: held?.kpiId ?? null } : imageKeysOf(change.entity, item)),
          writeOrder: change.writeOrder,
        },
      });
    }
    await storeImageRecords(tx, this.baseRunId, [...next.values()].map((entry) => entry.record));
    return [...next.values()].map(({ record, item }) => ({ entity: record.entity, sourceId: record.sourceId, item }));
  }

  /** The scope of the applied changes, re-derived from the image through the run's transform, and written. */
  private async rederive(tx: SqlSession, applied: readonly AppliedChange[]): Promise<void> {
    const linkKpis: KpiKey[] = [];
    const linkTenants = new Set<string>();
    const lookupKeys: RecordKey[] = [];
    const lookupRejects: Reject[] = [];
    for (const change of applied) {
      if (change.entity === 'Kpi') linkKpis.push(...this.lookups.setKpi(change.sourceId, change.item));
      else if (change.entity === 'Person') for (const tenant of this.lookups.setPerson(change.sourceId, change.item)) linkTenants.add(tenant);
      else continue;
      // A KPI or person record's reject follows its current state, as a run's lookup outcome records it.
      lookupKeys.push({ entity: change.entity, sourceId: change.sourceId });
      if (change.item !== null) {
        const parsed = change.entity === 'Kpi' ? parseKpi(change.item) : parsePerson(change.item);
        if (!parsed.ok) lookupRejects.push(parsed.reject);
      }
    }
    await this.replaceRejects(tx, lookupKeys, lookupRejects);

    const changedItems = new Map<string, LegacyItem | null>();
    for (const change of applied) changedItems.set(keyText(change.entity, change.sourceId), change.item);
    const changedKeys = (entities: readonly LegacyEntity[]): RecordKey[] =>
      applied.filter((change) => entities.includes(change.entity)).map((change) => ({ entity: change.entity, sourceId: change.sourceId }));

    // Links: those changed, those whose person resolution may have changed, those the run refused.
    const linkScope = new Map<string, Derived>();
    const linkKeys = changedKeys(['GoalKpiLink']);
    linkKeys.push(...(await imageRecordsOfKpis(tx, this.baseRunId, ['GoalKpiLink'], uniqueKpis(linkKpis))));
    linkKeys.push(...(await imageRecordsOfTenants(tx, this.baseRunId, 'GoalKpiLink', [...linkTenants])));
    if (linkKeys.length > 0) linkKeys.push(...(await rejectedRecords(tx, this.baseRunId, ['GoalKpiLink'], ['db_error'])));
    await this.deriveScope(tx, 'kpi_links', linkScope, linkKeys, changedItems);
    const linkOutcome = await this.writeScope(tx, 'kpi_links', linkScope);

    // Facts: those changed, every fact of a KPI whose links changed (no_kpi_link rejects included), those the run refused.
    const factKpis: KpiKey[] = [];
    for (const derived of linkScope.values()) {
      const row = linkOutcome.written.has(derived.key.sourceId) && derived.mapping?.ok ? (derived.mapping.rows[0] as KpiLinkRow) : undefined;
      factKpis.push(...this.links.set(derived.key.sourceId, row));
    }
    const changedKpis = uniqueKpis(factKpis);
    const factScope = new Map<string, Derived>();
    const factKeys = changedKeys(DATA_ENTITIES);
    // The facts of those KPIs from both states: as the image places them (what their rows must
    // become) and as the target holds them (what their rows were derived from). The image alone
    // is not enough: it can be newer than the changes applied so far (the first sync reads it
    // after the run, while the source is written), so a fact whose change is still ahead in the
    // stream is missing from it (deleted since) or elsewhere in it (moved since) while its rows
    // are still on these links: left out, they would keep a deleted link in the target.
    factKeys.push(...(await imageRecordsOfKpis(tx, this.baseRunId, DATA_ENTITIES, changedKpis)));
    factKeys.push(...(await recordsOnKpiLinks(tx, this.target, changedKpis, linkOutcome.toDelete)));
    if (factKeys.length > 0) factKeys.push(...(await rejectedRecords(tx, this.baseRunId, DATA_ENTITIES, ['db_error'])));
    await this.deriveScope(tx, 'kpi_data', factScope, factKeys, changedItems);
    const factOutcome = await this.writeScope(tx, 'kpi_data', factScope);

    // Links last: no fact row references a link any more once its facts moved away.
    await this.deleteRows(tx, 'kpi_links', linkOutcome.toDelete);
    if (this.#progressCache) {
      const touched = new Set<string>([...linkOutcome.touchedLinks, ...factOutcome.touchedLinks]);
      if (touched.size > 0) await refreshProgressCache(tx, this.request.targetSchema, [...touched]);
    }
  }

  /**
   * Derives the records of `keys` into `scope`, and then every record holding a row id that one
   * of them claims (it may lose it, or win it back): the closure a fresh run decides together.
   */
  private async deriveScope(
    tx: SqlSession,
    table: TargetTableName,
    scope: Map<string, Derived>,
    keys: readonly RecordKey[],
    changed: ReadonlyMap<string, LegacyItem | null>,
  ): Promise<void> {
    let wanted = keys;
    while (wanted.length > 0) {
      const unique = new Map<string, RecordKey>();
      for (const key of wanted) {
        const text = keyText(key.entity, key.sourceId);
        if (!scope.has(text)) unique.set(text, key);
      }
      const fromImage = [...unique.entries()].filter(([text]) => !changed.has(text)).map(([, key]) => key);
      const items = new Map<string, LegacyItem | null>();
      for (const record of await imageRecordsByKey(tx, this.baseRunId, fromImage)) {
        items.set(keyText(record.entity, record.sourceId), record.item === null ? null : itemFromWire(record.item));
      }
      const claimed: string[] = [];
      for (const [text, key] of unique) {
        const item = changed.has(text) ? changed.get(text)! : (items.get(text) ?? null);
        const entity = key.entity as MigratedEntity;
        const mapping = item === null ? null : this.map(entity, item);
        scope.set(text, { key: { entity, sourceId: key.sourceId }, item, mapping });
        if (mapping?.ok) claimed.push(...mapping.rows.map((row) => row.id));
      }
      const holders = await holdersOfRows(tx, this.target, table, uniqueIds(claimed));
      // The losers of the ids these records held or claim: the holder may be gone or have moved, or a new claimant come.
      const held = await rowsOfRecords(tx, this.target, table, [...unique.values()]);
      wanted = [
        ...holders
          .filter((holder) => holder.sourceEntity !== null && holder.sourceId !== null)
          .map((holder) => ({ entity: holder.sourceEntity as LegacyEntity, sourceId: holder.sourceId! })),
        ...this.#losers[table].at([...claimed, ...held.map((row) => row.id)]),
      ].filter((key) => !scope.has(keyText(key.entity, key.sourceId)));
    }
  }

  private map(entity: MigratedEntity, item: LegacyItem): Mapping {
    return entity === 'GoalKpiLink' ? mapGoalKpiLink(item, this.lookups) : DATA_MAPPERS[entity](item, this.links.index);
  }

  /**
   * Writes what the scope derives to: id conflicts decided among its records as a fresh run
   * decides them (entity order, then the lower Id; the application's rows are never taken), rows
   * upserted, rows its records no longer produce deleted (kpi_links: returned, to delete after the
   * facts), and the records' rejects replaced.
   */
  private async writeScope(
    tx: SqlSession,
    table: TargetTableName,
    scope: ReadonlyMap<string, Derived>,
  ): Promise<{ written: Set<string>; toDelete: string[]; touchedLinks: string[] }> {
    const records = [...scope.values()];
    const rejects: LoadReject[] = [];
    const candidates: (Derived & { rows: TargetRow[] })[] = [];
    for (const derived of records) {
      if (derived.mapping === null) continue;
      if (derived.mapping.ok) candidates.push({ ...derived, rows: derived.mapping.rows });
      else rejects.push(derived.mapping.reject);
    }

    const applicationRows = new Map<string, RowHolder>();
    for (const holder of await holdersOfRows(tx, this.target, table, uniqueIds(candidates.flatMap((c) => c.rows.map((row) => row.id))))) {
      if (holder.sourceEntity === null) applicationRows.set(holder.id, { sourceEntity: null, sourceId: null, lastRunId: null });
    }
    const claims = candidates.map((candidate) => ({
      sourceEntity: candidate.key.entity,
      sourceId: candidate.key.sourceId,
      rowIds: candidate.rows.map((row) => row.id),
      contentKey: () => toJsonText(candidate.item!),
    }));
    const { winners, losers } = resolveIdConflicts(claims, applicationRows);
    for (const loss of losers) {
      const loser = candidates[loss.record]!;
      rejects.push({ sourceEntity: loser.key.entity, sourceId: loser.key.sourceId, reason: 'id_conflict', attribute: 'Id', message: loss.message, item: loser.item! });
    }
    const prepared = new Map<MigratedEntity, PreparedRecord[]>();
    for (const at of winners) {
      const winner = candidates[at]!;
      const outcome = prepareRecord(winner.key.entity, { sourceId: winner.key.sourceId, item: winner.item!, rows: winner.rows }, this.syncRunId);
      if (!outcome.ok) rejects.push(outcome.reject);
      else prepared.set(winner.key.entity, [...(prepared.get(winner.key.entity) ?? []), outcome.record]);
    }

    const held = await rowsOfRecords(tx, this.target, table, records.map((derived) => derived.key));
    const written = new Set<string>();
    const kept = new Set<string>();
    for (const [entity, some] of prepared) {
      const writes = await upsertRecordRows(tx, this.target, table, () => entity, this.syncRunId, some);
      const counts = this.counts(entity);
      counts.inserted += writes.inserted;
      counts.updated += writes.updated;
      counts.unchanged += writes.unchanged;
      rejects.push(...writes.refused);
      const refused = new Set(writes.refused.map((reject) => reject.sourceId));
      for (const record of some) {
        if (refused.has(record.sourceId)) continue;
        written.add(record.sourceId);
        for (const id of record.rowIds) kept.add(id);
      }
    }
    const toDelete = held.filter((row) => !kept.has(row.id)).map((row) => row.id);

    const touchedLinks = new Set<string>();
    if (table === 'kpi_data') {
      // A row kept under its id may move to another link (a fact moved to another KPI keeps its legacy Id): the link it left changes too.
      for (const row of held) if (row.linkId !== null) touchedLinks.add(row.linkId);
      for (const candidate of candidates) for (const row of candidate.rows as KpiDataRow[]) touchedLinks.add(row.kpi_link_id);
      for (const link of await this.deleteRows(tx, 'kpi_data', toDelete)) touchedLinks.add(link);
    } else {
      for (const row of held) touchedLinks.add(row.id);
      for (const candidate of candidates) for (const row of candidate.rows) touchedLinks.add(row.id);
    }
    await this.replaceRejects(tx, records.map((derived) => derived.key), rejects);
    // A failed batch ends the sync session, so the index never outlives a rolled-back decision.
    for (const derived of records) this.#losers[table].set(keyText(derived.key.entity, derived.key.sourceId), derived.key, undefined);
    for (const loss of losers) {
      const loser = candidates[loss.record]!;
      this.#losers[table].set(keyText(loser.key.entity, loser.key.sourceId), loser.key, loser.rows.map((row) => row.id));
    }
    return { written, toDelete: table === 'kpi_links' ? toDelete : [], touchedLinks: [...touchedLinks] };
  }

  /** Deletes tool-written rows (old images kept), counted per entity; returns the links the deleted rows belonged to. */
  private async deleteRows(tx: SqlSession, table: TargetTableName, rowIds: readonly string[]): Promise<string[]> {
    const deleted = await deleteToolRows(tx, this.target, table, this.syncRunId, rowIds);
    for (const row of deleted) this.counts(row.sourceEntity as LegacyEntity).deleted += 1;
    return deleted.map((row) => row.linkId);
  }

  private async replaceRejects(tx: SqlSession, keys: readonly RecordKey[], rejects: readonly LoadReject[]): Promise<void> {
    for (const entity of await replaceRejects(tx, this.baseRunId, this.syncRunId, keys, rejects)) this.counts(entity).rejectsRemoved += 1;
    for (const reject of rejects) this.counts(reject.sourceEntity).rejectsRecorded += 1;
  }

  /** The sync's counts so far, in its own transaction: the ledger's figures are what was committed. */
  private async storeCounts(tx: SqlSession): Promise<void> {
    for (const [entity, counts] of Object.entries(this.figures.entities)) {
      await tx.query(
        `insert into kpi_migrate.run_counts as c (run_id, entity, read, rejected, skipped, inserted, updated, unchanged, deleted)
         values ($1::bigint, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (run_id, entity) do update set read = excluded.read, rejected = excluded.rejected, skipped = excluded.skipped,
           inserted = excluded.inserted, updated = excluded.updated, unchanged = excluded.unchanged, deleted = excluded.deleted`,
        [this.syncRunId, entity, counts.changes, counts.rejectsRecorded, counts.stale, counts.inserted, counts.updated, counts.unchanged, counts.deleted],
      );
    }
  }
}

async function assertSyncRunning(tx: SqlSession, syncRunId: string): Promise<void> {
  const { rows } = await tx.query<{ status: string }>('select status from kpi_migrate.runs where id = $1::bigint for share', [syncRunId]);
  if (rows[0]?.status !== 'running') throw new MigrateError('RUN_CHANGED', `sync run ${syncRunId} is ${rows[0]?.status ?? 'gone'}: it takes no more batches`);
}

function uniqueKpis(kpis: readonly KpiKey[]): KpiKey[] {
  return [...new Map(kpis.map((kpi) => [`${kpi.tenantId}|${kpi.kpiId}`, kpi])).values()];
}

function uniqueIds(ids: readonly string[]): string[] {
  return [...new Set(ids.filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)))];
}

