import type { LegacySource, Position, SourcePage } from '../extract/source.js';
import { DATA_ENTITIES, type LegacyEntity, type MigratedEntity } from '../transform/entities.js';
import type { KpiDataRow, KpiLinkRow } from '../transform/rows.js';
import type { Reject, RejectReason } from '../transform/reject.js';
import type { LegacyItem } from '../transform/legacy-value.js';
import {
  LinkIndex,
  LinkLookups,
  canonicalTenantOf,
  mapGoalKpiLink,
  mapKpiActual,
  mapKpiMilestone,
  mapKpiReading,
  parseKpi,
  parsePerson,
} from '../transform/index.js';
import type { SqlClient } from '../load/sql-client.js';
import { applyMigrations } from '../load/migrate.js';
import {
  finishRun,
  findRun,
  lastUnfinishedRun,
  loadCheckpoints,
  loadRejectedSourceIds,
  recordLookupOutcome,
  resumeRun,
  runCounts,
  startRun,
  writeBatch,
  type RecordRows,
  type RunCounts,
} from '../load/index.js';
import { MigrateError } from '../errors.js';
import { targetFailure } from '../load/database-error.js';
import { itemsOf } from './read-all.js';
import { silentProgress, type EntityProgress, type ProgressSink } from './progress.js';

export interface RunRequest {
  source: LegacySource;
  sql: SqlClient;
  targetSchema: string;
  environment: string;
  /** Rows per transaction; a batch always holds whole source pages. */
  batchRows: number;
  /** Only this tenant's records are migrated; the others are counted as skipped. */
  tenant?: string;
  dryRun?: boolean;
  /** Continue this run (or the last unfinished one, with 'last') from its checkpoints. */
  resume?: string | 'last';
  /**
   * Reads whole tables for the lookups and the link index; defaults to `source`. When several
   * workers share a run, `source` reads only this worker's share and this one reads everything.
   */
  lookupSource?: LegacySource;
  /**
   * Several workers share this run: every partition of an entity's table, across all workers.
   * Each worker waits until all of them are done before the next entity starts, so links exist
   * before data rows reference them and an earlier entity always wins an id_conflict.
   */
  sharedRun?: { allPartitions(entity: MigratedEntity): string[]; pollMs?: number };
  /** Recorded in the ledger: what the operator asked for (no secrets). */
  ledgerOptions: Record<string, unknown>;
  codeVersion: string;
  configHash: string;
  progress?: ProgressSink;
}

export interface RunResult {
  runId: string;
  status: 'completed' | 'failed';
  counts: RunCounts;
  startedAt: Date;
  finishedAt: Date;
}

type DataMapper = (item: LegacyItem, links: LinkIndex) => ReturnType<typeof mapKpiMilestone>;
const DATA_MAPPERS: Record<(typeof DATA_ENTITIES)[number], DataMapper> = {
  KpiMilestone: mapKpiMilestone,
  KpiActual: mapKpiActual,
  KpiReading: mapKpiReading,
};

/** What one entity's pass saw: the progress figures plus what the ledger would hold. */
interface EntityFigures extends EntityProgress {
  personFallbacks: number;
  rejectsByReason: Partial<Record<RejectReason, number>>;
  /** Source ids of records the database refused in this session (id_conflict, db_error). */
  refusedSourceIds: string[];
}

function countsOf(runId: string, figures: EntityFigures[]): RunCounts {
  const entities: RunCounts['entities'] = {};
  for (const f of figures) {
    entities[f.entity] = {
      read: f.read, migrated: f.migrated, rejected: f.rejected, skipped: f.skipped, rowsOut: f.rowsOut,
      inserted: f.inserted, updated: f.updated, unchanged: f.unchanged, deleted: 0,
      personFallbacks: f.personFallbacks, rejectsByReason: f.rejectsByReason,
    };
  }
  return { runId, entities };
}

function newFigures(entity: LegacyEntity, phase: EntityProgress['phase']): EntityFigures {
  return { ...newProgress(entity, phase), personFallbacks: 0, rejectsByReason: {}, refusedSourceIds: [] };
}

function countReject(figures: EntityFigures, reason: RejectReason): void {
  figures.rejectsByReason[reason] = (figures.rejectsByReason[reason] ?? 0) + 1;
}

function newProgress(entity: LegacyEntity, phase: EntityProgress['phase']): EntityProgress {
  return { entity, phase, read: 0, migrated: 0, rejected: 0, skipped: 0, rowsOut: 0, inserted: 0, updated: 0, unchanged: 0, startedAt: Date.now(), done: false };
}

/**
 * extract → transform → load, entity by entity: lookups (KPIs, people) and the link index are
 * built in memory first, links load before the data rows that reference them, and every batch
 * commits with the checkpoints it advances. Resuming re-reads only what no batch committed.
 */
export async function runMigration(request: RunRequest): Promise<RunResult> {
  const { source, sql, targetSchema } = request;
  const progress = request.progress ?? silentProgress;
  await applyMigrations(sql, targetSchema);
  const runId = await openRun(request);
  const startedAt = new Date();
  try {
    const figures: EntityFigures[] = [];
    const wholeTables = request.lookupSource ?? source;
    const lookups = await buildLookups(request, wholeTables, runId, progress, figures);
    const links = await buildLinkIndex(wholeTables, lookups, request.tenant, progress);
    const linkFigures = await loadEntity(request, runId, 'GoalKpiLink', (item) => mapGoalKpiLink(item, lookups), progress);
    figures.push(linkFigures);
    await waitForOtherWorkers(request, runId, 'GoalKpiLink', progress);
    // Links the database refused (id_conflict, db_error) must not receive fan-out rows; earlier
    // sessions of a resumed run refused some too, so the ledger is asked, not just this session.
    const refusedLinks = request.dryRun ? linkFigures.refusedSourceIds : await loadRejectedSourceIds(sql, runId, 'GoalKpiLink', ['id_conflict', 'db_error']);
    for (const sourceId of refusedLinks) links.remove(sourceId);
    for (const entity of DATA_ENTITIES) {
      const map = DATA_MAPPERS[entity];
      figures.push(await loadEntity(request, runId, entity, (item) => map(item, links), progress));
      await waitForOtherWorkers(request, runId, entity, progress);
    }
    await completeRun(request, runId);
    // A dry run stored nothing, so its counts are the ones this process saw.
    const counts = request.dryRun ? countsOf(runId, figures) : await runCounts(sql, runId);
    return { runId, status: 'completed', counts, startedAt, finishedAt: new Date() };
  } catch (error) {
    // Errors the load stage did not wrap (a runner query cut off mid-run) are classified once here.
    const failure = targetFailure(error, `run ${runId}`);
    await finishRun(sql, runId, 'failed', { code: failure.code, message: failure.message }).catch(() => {});
    throw failure;
  }
}

async function openRun(request: RunRequest): Promise<string> {
  const { sql } = request;
  if (request.resume === undefined) {
    return startRun(sql, {
      environment: request.environment,
      sourceKind: request.source.kind,
      targetSchema: request.targetSchema,
      options: request.ledgerOptions,
      codeVersion: request.codeVersion,
      configHash: request.configHash,
      dryRun: request.dryRun ?? false,
    });
  }
  const run = request.resume === 'last' ? await lastUnfinishedRun(sql) : await findRun(sql, request.resume);
  if (run === undefined) {
    throw new MigrateError('RUN_NOT_FOUND', request.resume === 'last' ? 'no unfinished run to resume' : `run ${request.resume} does not exist`);
  }
  if (run.sourceKind !== request.source.kind) {
    throw new MigrateError('RUN_STATE', `run ${run.id} read from ${run.sourceKind}; resuming it from ${request.source.kind} would not match its checkpoints`);
  }
  return (await resumeRun(sql, run.id)).id;
}

/** Every worker of a shared run reaches the end; the first to do so marks the run completed. */
async function completeRun(request: RunRequest, runId: string): Promise<void> {
  try {
    await finishRun(request.sql, runId, 'completed');
  } catch (error) {
    const run = request.sharedRun ? await findRun(request.sql, runId) : undefined;
    if (run?.status !== 'completed') throw error;
  }
}

/** With a shared run: blocks until every partition of `entity` is done, whichever worker read it. */
async function waitForOtherWorkers(request: RunRequest, runId: string, entity: MigratedEntity, progress: ProgressSink): Promise<void> {
  const shared = request.sharedRun;
  if (shared === undefined) return;
  const partitions = shared.allPartitions(entity);
  let announced = false;
  for (;;) {
    const { rows } = await request.sql.query<{ done: number }>(
      `select count(*)::int as done from kpi_migrate.checkpoints
       where run_id = $1::bigint and entity = $2 and done and partition = any($3::text[])`,
      [runId, entity, partitions],
    );
    const done = rows[0]?.done ?? 0;
    if (done >= partitions.length) return;
    if (!announced) {
      progress.message?.(`waiting for other workers: ${partitions.length - done} of ${partitions.length} partitions of ${entity} not done yet`);
      announced = true;
    }
    await new Promise((resolve) => setTimeout(resolve, shared.pollMs ?? 1000));
  }
}

async function buildLookups(request: RunRequest, source: LegacySource, runId: string, progress: ProgressSink, out: EntityFigures[]): Promise<LinkLookups> {
  const lookups = new LinkLookups();
  for (const [entity, parse, add] of [
    ['Kpi', parseKpi, (v: never) => lookups.addKpi(v)],
    ['Person', parsePerson, (v: never) => lookups.addPerson(v)],
  ] as const) {
    const figures = newFigures(entity, 'lookup');
    const rejects: Reject[] = [];
    for await (const item of itemsOf(source, entity)) {
      figures.read += 1;
      const parsed = parse(item);
      if (parsed.ok) {
        add(parsed.value as never);
        figures.migrated += 1;
      } else {
        rejects.push(parsed.reject);
        figures.rejected += 1;
        countReject(figures, parsed.reject.reason);
      }
      if (figures.read % 10_000 === 0) progress.update(figures);
    }
    figures.done = true;
    progress.update(figures);
    out.push(figures);
    if (!request.dryRun) await recordLookupOutcome(request.sql, runId, entity, { read: figures.read, used: figures.migrated, rejects });
  }
  return lookups;
}

async function buildLinkIndex(source: LegacySource, lookups: LinkLookups, tenant: string | undefined, progress: ProgressSink): Promise<LinkIndex> {
  const index = new LinkIndex();
  const figures = newProgress('GoalKpiLink', 'index');
  for await (const item of itemsOf(source, 'GoalKpiLink')) {
    figures.read += 1;
    if (tenant !== undefined && canonicalTenantOf(item) !== tenant) continue;
    const mapped = mapGoalKpiLink(item, lookups);
    if (mapped.ok) {
      for (const row of mapped.rows) {
        index.add({ id: row.id, tenantId: row.tenant_id, kpiId: row.kpi_id, isPrimary: row.is_primary, sourceId: row.source_id });
      }
    }
  }
  figures.done = true;
  progress.update(figures);
  return index;
}

interface PendingBatch {
  read: number;
  skipped: number;
  personFallbacks: number;
  records: RecordRows<KpiLinkRow | KpiDataRow>[];
  rows: number;
  rejects: Reject[];
  checkpoints: Map<string, { partition: string; position: Position | null; done: boolean }>;
}

function emptyBatch(): PendingBatch {
  return { read: 0, skipped: 0, personFallbacks: 0, records: [], rows: 0, rejects: [], checkpoints: new Map() };
}

type EntityMapper = (item: LegacyItem) => { ok: true; rows: (KpiLinkRow | KpiDataRow)[]; personFallback?: boolean } | { ok: false; reject: Reject };

async function loadEntity(
  request: RunRequest,
  runId: string,
  entity: MigratedEntity,
  map: EntityMapper,
  progress: ProgressSink,
): Promise<EntityFigures> {
  const { sql, source, tenant } = request;
  const resumeFrom = await loadCheckpoints(sql, runId, entity);
  const figures = newFigures(entity, 'load');
  let batch = emptyBatch();

  const flush = async (): Promise<void> => {
    if (batch.checkpoints.size === 0) return;
    const outcome = await writeBatch(sql, {
      runId,
      targetSchema: request.targetSchema,
      entity,
      ...(entity === 'GoalKpiLink'
        ? { links: batch.records as RecordRows<KpiLinkRow>[] }
        : { data: batch.records as RecordRows<KpiDataRow>[] }),
      mappingRejects: batch.rejects,
      read: batch.read,
      skipped: batch.skipped,
      personFallbacks: batch.personFallbacks,
      checkpoints: [...batch.checkpoints.values()],
      dryRun: request.dryRun ?? false,
    });
    figures.read += batch.read;
    figures.skipped += batch.skipped;
    figures.migrated += outcome.migrated;
    figures.rejected += outcome.rejects.length;
    figures.rowsOut += outcome.rowsOut;
    figures.inserted += outcome.inserted;
    figures.updated += outcome.updated;
    figures.unchanged += outcome.unchanged;
    figures.personFallbacks += batch.personFallbacks;
    for (const reject of outcome.rejects) {
      countReject(figures, reject.reason);
      if ((reject.reason === 'id_conflict' || reject.reason === 'db_error') && reject.sourceId !== null) {
        figures.refusedSourceIds.push(reject.sourceId);
      }
    }
    progress.update(figures);
    batch = emptyBatch();
  };

  const take = (page: SourcePage): void => {
    for (const item of page.items) {
      batch.read += 1;
      if (tenant !== undefined && canonicalTenantOf(item) !== tenant) {
        batch.skipped += 1;
        continue;
      }
      const mapped = map(item);
      if (!mapped.ok) {
        batch.rejects.push(mapped.reject);
        continue;
      }
      if (mapped.personFallback) batch.personFallbacks += 1;
      const sourceId = mapped.rows[0]?.source_id ?? '';
      batch.records.push({ sourceId, item, rows: mapped.rows });
      batch.rows += mapped.rows.length;
    }
    batch.checkpoints.set(page.partition, { partition: page.partition, position: page.position, done: page.done });
  };

  for await (const page of source.readTable(entity, resumeFrom)) {
    take(page);
    if (batch.rows + batch.rejects.length >= request.batchRows) await flush();
  }
  await flush();
  figures.done = true;
  progress.update(figures);
  return figures;
}
