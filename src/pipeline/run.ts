import type { LegacySource } from '../model/source.js';
import { DATA_ENTITIES, type MigratedEntity } from '../model/entities.js';
import type { SqlClient } from '../db/sql-client.js';
import { applyMigrations } from '../load/migrate.js';
import {
  claimRun,
  finishRun,
  findRun,
  guardedByClaim,
  lastUnfinishedRun,
  loadCheckpoints,
  loadRejectedSourceIds,
  recordLookupOutcome,
  resumeRun,
  runCounts,
  startRun,
  writeBatch,
  type RunClaim,
  type RunCounts,
  SessionWrites,
} from '../load/index.js';
import { openRehearsal, type Rehearsal } from '../load/rehearsal.js';
import { MigrateError } from '../errors.js';
import { targetFailure } from '../db/database-error.js';
import { DEFAULT_DELETE_LIMIT_TEXT, describeDeleteLimit, parseDeleteLimit, sweepRun, type DeleteLimit } from '../load/sweep.js';
import type { MappedBatch, ReaderProgress, RecordReader } from './record-reader.js';
import { newProgress, silentProgress, type ProgressSink } from './progress.js';

export interface RunRequest {
  source: LegacySource;
  sql: SqlClient;
  targetSchema: string;
  environment: string;
  /** Rows per transaction; a batch always holds whole source pages. */
  batchRows: number;
  /** Only this tenant's records are migrated; the others are counted as skipped. */
  tenant?: string;
  /**
   * The whole run in one transaction that is rolled back at the end: it counts what the real run
   * would do, on this target as it is, and leaves the target as it was. Only the run's own row in
   * the ledger stays (completed, dry_run).
   */
  dryRun?: boolean;
  /** Continue this run (or the last unfinished one, with 'last') from its checkpoints. */
  resume?: string | 'last';
  /**
   * A converge run: besides upserting, it removes at its end every tool-written row (of the
   * tenant, when scoped) that it did not produce. A resumed run converges when it was started so.
   */
  converge?: boolean;
  /** How much the converge run's sweep may delete per table before it refuses; default DEFAULT_DELETE_LIMIT_TEXT. */
  maxDelete?: DeleteLimit;
  /**
   * Reads whole tables for the lookups and the link index; defaults to `source`. When several
   * workers share a run, `source` reads only this worker's share and this one reads everything.
   */
  lookupSource?: LegacySource;
  /**
   * Several workers share this run, this process being `worker`: every partition of an entity's
   * table, across all workers. Each worker waits until all of them are done before the next
   * entity starts, so links exist before data rows reference them and an earlier entity always
   * wins an id_conflict. This process claims only its own share; without `sharedRun`, the whole run.
   */
  sharedRun?: { worker: { index: number; count: number }; allPartitions(entity: MigratedEntity): string[]; pollMs?: number };
  /**
   * Reads and maps the records (from `source` and `lookupSource`); by default in this thread.
   * The runner closes it.
   */
  reader?: RecordReader;
  /**
   * Called once the run is known and claimed, before anything is read (not in a dry run): a
   * DynamoDB run records its tables' streams here, so that a sync reads every change from then on.
   */
  beforeFirstRead?(sql: SqlClient, runId: string): Promise<void>;
  /** Recorded in the ledger: what the operator asked for (no secrets). */
  ledgerOptions: Record<string, unknown>;
  codeVersion: string;
  configHash: string;
  progress?: ProgressSink;
}

export interface RunResult {
  runId: string;
  status: 'completed' | 'failed';
  /** A converge run (asked for, or resumed from a run started so): its counts carry `deleted`. */
  converge?: boolean;
  counts: RunCounts;
  startedAt: Date;
  finishedAt: Date;
}

/**
 * extract → transform → load, entity by entity: lookups (KPIs, people) and the link index are
 * built in memory first, links load before the data rows that reference them, and every batch
 * commits with the checkpoints it advances. Resuming re-reads only what no batch committed.
 * The run (or this worker's share of it) is claimed before anything is read, and every
 * transaction commits only while the claim holds: a second process on it is refused (RUN_BUSY).
 */
export async function runMigration(request: RunRequest): Promise<RunResult> {
  const { source, sql, targetSchema } = request;
  const progress = request.progress ?? silentProgress;
  // Loaded here only: where another thread reads (request.reader), this one needs no transform stage.
  const reader =
    request.reader ??
    (await import('./record-reader.js')).createRecordReader({ source, wholeTables: request.lookupSource ?? source, tenant: request.tenant, batchRows: request.batchRows });
  try {
    await applyMigrations(sql, targetSchema);
    const { runId, claim, converge } = await openRun(request);
    try {
      return await runWith({ ...request, sql: guardedByClaim(sql, claim), converge }, reader, runId, progress, claim);
    } finally {
      await claim.release();
    }
  } finally {
    await reader.close();
  }
}

/**
 * The run itself. `ledger` is the client of the run's own row (its status); a dry run does all
 * the rest (lookups, batches, rejects, checkpoints, counts) through a rehearsal on `ledger`, which
 * is rolled back once the counts are read: what it counts is what the same writes did, not an estimate.
 */
async function runWith(request: RunRequest, reader: RecordReader, runId: string, progress: ProgressSink, claim: RunClaim): Promise<RunResult> {
  const ledger = request.sql;
  const startedAt = new Date();
  // A dry run of an earlier run's resume: that run's row belongs to the real run, so its status
  // changes are rehearsed too, and rolled back with the rest.
  const rehearsesResume = request.dryRun === true && request.resume !== undefined;
  let rehearsal: Rehearsal | undefined;
  try {
    if (request.dryRun) rehearsal = await openRehearsal(ledger);
    // The rehearsal's savepoints commit only while the claim holds, as the real run's transactions do.
    const sql = rehearsal === undefined ? ledger : guardedByClaim(rehearsal.client, claim);
    request = { ...request, sql };
    if (rehearsesResume) await sql.transaction((tx) => resumeRun(tx, runId));
    if (!request.dryRun) await request.beforeFirstRead?.(sql, runId);
    const report: ReaderProgress = (update) => progress.update(update);
    // The index needs every link. Loading reads them all too, unless this worker reads only its
    // share or an earlier session loaded some: only then does the index take a pass of its own.
    const linksFrom = await loadCheckpoints(sql, runId, 'GoalKpiLink');
    const indexLinks = request.lookupSource === undefined && request.sharedRun === undefined && Object.keys(linksFrom).length === 0;
    // The links are what the source reads next unless the index takes a pass of its own first.
    const afterLookups = indexLinks ? { entity: 'GoalKpiLink' as const, from: linksFrom } : undefined;
    for (const outcome of await reader.readLookups(report, afterLookups)) await recordLookupOutcome(sql, runId, outcome.entity, outcome);
    if (!indexLinks) await reader.indexLinks(report);
    // What this session writes, batch after batch: in a first run, most records need no probe.
    const writes = new SessionWrites();
    await loadEntity(request, runId, await openEntity(request, reader, runId, 'GoalKpiLink', indexLinks, { next: DATA_ENTITIES[0] }), progress, writes);
    await waitForOtherWorkers(request, runId, 'GoalKpiLink', progress, claim);
    // Links the database refused (id_conflict, db_error) must not receive fan-out rows; earlier
    // sessions of a resumed run refused some too, so the ledger is asked, not just this session.
    const refusedLinks = await loadRejectedSourceIds(sql, runId, 'GoalKpiLink', ['id_conflict', 'db_error']);
    await reader.forgetLinks(refusedLinks);
    // Facts of one entity do not depend on what another wrote: the next one is read as soon as the
    // reader is done with the one being written, while its last batches are written (their rows
    // still wait for their turn, and for other workers). One entity ahead at most.
    const readings: Promise<EntityReading>[] = [];
    const readDone: boolean[] = [];
    let loading = 0;
    const open = (at: number): Promise<EntityReading> | undefined => {
      const entity = DATA_ENTITIES[at];
      if (entity === undefined) return undefined;
      if (readings[at] === undefined) {
        const whenRead = (): void => {
          readDone[at] = true;
          if (at === loading) void open(at + 1);
        };
        readings[at] = openEntity(request, reader, runId, entity, false, { whenRead, next: DATA_ENTITIES[at + 1] });
        // Awaited when its turn comes; a failure must not go unhandled before then.
        readings[at].catch(() => {});
      }
      return readings[at];
    };
    open(0);
    try {
      for (const [at, entity] of DATA_ENTITIES.entries()) {
        loading = at;
        if (readDone[at]) open(at + 1);
        const reading = await open(at)!;
        await loadEntity(request, runId, reading, progress, writes, async () => void (await open(at + 1)));
        await waitForOtherWorkers(request, runId, entity, progress, claim);
      }
    } finally {
      // Readings opened ahead of a failure are stopped; those loaded are finished already.
      for (const reading of readings.slice(loading + 1)) void reading?.then(abandon, () => {});
    }
    // A converge run's sweep goes through the same client as its batches: a dry run rehearses it too.
    if (request.converge) await sweep(request, runId, progress);
    if (rehearsesResume) await completeRun(request, runId);
    // Read before the rehearsal is rolled back: the counts a real run would have stored.
    const counts = await runCounts(sql, runId);
    await rehearsal?.end();
    if (!rehearsesResume) await completeRun({ ...request, sql: ledger }, runId);
    return { runId, status: 'completed', converge: request.converge ?? false, counts, startedAt, finishedAt: new Date() };
  } catch (error) {
    // Rolled back first: it holds the run's row (FOR SHARE) until it ends.
    await rehearsal?.end().catch(() => {});
    // Errors the load stage did not wrap (a runner query cut off mid-run) are classified once here.
    const failure = targetFailure(error, `run ${runId}`);
    // A process whose claim is gone no longer owns the run: another may be resuming it already,
    // and must not find it marked failed under its feet. It is left as a killed process leaves it.
    if (failure.code !== 'RUN_CLAIM_LOST' && !rehearsesResume) {
      await ledger.transaction((tx) => finishRun(tx, runId, 'failed', { code: failure.code, message: failure.message })).catch(() => {});
    }
    throw failure;
  }
}

/**
 * The end of a converge run, once every entity is loaded (by every worker of a shared run): the
 * rows the run did not produce go, unless the guard refuses. Through the run's claim-guarded
 * client like the batches, so a dry run rehearses it with them.
 */
async function sweep(request: RunRequest, runId: string, progress: ProgressSink): Promise<void> {
  const maxDelete = request.maxDelete ?? parseDeleteLimit(DEFAULT_DELETE_LIMIT_TEXT);
  progress.message?.(`converge: removing the rows run ${runId} no longer justifies (at most ${describeDeleteLimit(maxDelete)} of a table)`);
  const outcome = await sweepRun(request.sql, {
    runId,
    targetSchema: request.targetSchema,
    tenant: request.tenant,
    maxDelete,
  });
  const total = Object.values(outcome.deleted).reduce((sum, n) => sum + n, 0);
  progress.message?.(
    outcome.alreadySwept
      ? `converge: run ${runId} had already removed ${total} row(s) in an earlier session`
      : `converge: ${request.dryRun ? 'would remove' : 'removed'} ${total} row(s) (${Object.entries(outcome.deleted).map(([entity, n]) => `${entity} ${n}`).join(', ')})`,
  );
  if (outcome.keptReferencedLinks > 0) {
    progress.message?.(`converge: kept ${outcome.keptReferencedLinks} link(s) the source no longer has: rows the tool did not write (the application's) still reference them`);
  }
}

/** Starts or finds the run, and claims it (or this worker's share) before it is resumed or read. */
async function openRun(request: RunRequest): Promise<{ runId: string; claim: RunClaim; converge: boolean }> {
  const { sql } = request;
  const worker = request.sharedRun?.worker;
  if (request.resume === undefined) {
    const runId = await startRun(sql, {
      environment: request.environment,
      sourceKind: request.source.kind,
      targetSchema: request.targetSchema,
      // A resumed run converges as it was started: the ledger remembers it.
      options: request.converge ? { ...request.ledgerOptions, converge: true } : request.ledgerOptions,
      codeVersion: request.codeVersion,
      configHash: request.configHash,
      dryRun: request.dryRun ?? false,
    });
    // Nobody knows this run yet but a `run --resume` of the last unfinished run, which may take it
    // first. A dry run is claimed too: it records no checkpoints, but while it lasts it is that run.
    return { runId, claim: await claimRun(sql, { runId, worker }), converge: request.converge ?? false };
  }
  const run = request.resume === 'last' ? await lastUnfinishedRun(sql) : await findRun(sql, request.resume);
  if (run === undefined) {
    throw new MigrateError('RUN_NOT_FOUND', request.resume === 'last' ? 'no unfinished run to resume' : `run ${request.resume} does not exist`);
  }
  if (run.options.syncOf !== undefined) {
    throw new MigrateError('RUN_STATE', `run ${run.id} is a sync of run ${String(run.options.syncOf)}, not a migration: continue it with kpi-migrate sync --run ${String(run.options.syncOf)}`);
  }
  if (run.sourceKind !== request.source.kind) {
    throw new MigrateError('RUN_STATE', `run ${run.id} read from ${run.sourceKind}; resuming it from ${request.source.kind} would not match its checkpoints`);
  }
  const converge = checkConvergeResume(request, run);
  const claim = await claimRun(sql, { runId: run.id, label: run.label, worker });
  try {
    // A dry run of a resume leaves the run as it is: it resumes it in its rehearsal (runWith).
    if (!request.dryRun) await guardedByClaim(sql, claim).transaction((tx) => resumeRun(tx, run.id));
    else if (run.status !== 'running' && run.status !== 'failed') throw new MigrateError('RUN_STATE', `run ${run.id} is ${run.status}: it cannot be resumed`);
  } catch (error) {
    await claim.release();
    throw error;
  }
  return { runId: run.id, claim, converge };
}

/**
 * A run converges as it was started (the ledger's options say so). Its sweep removes what the run
 * did not produce in its tenant: resumed for another tenant, it would remove the other tenants' rows.
 */
function checkConvergeResume(request: RunRequest, run: { id: string; options: Record<string, unknown> }): boolean {
  const converge = run.options.converge === true;
  if (request.converge === true && !converge) {
    throw new MigrateError('RUN_STATE', `run ${run.id} was not started with --converge: resume it without --converge, or start a new converge run`);
  }
  if (converge) {
    const started = typeof run.options.tenant === 'string' ? run.options.tenant.toLowerCase().replace(/[{}]/g, '') : undefined;
    if (started !== request.tenant) {
      throw new MigrateError(
        'RUN_STATE',
        `converge run ${run.id} was started ${started === undefined ? 'for every tenant' : `for tenant ${started}`}; resume it ${started === undefined ? 'without --tenant' : `with --tenant ${started}`}`,
      );
    }
  }
  return converge;
}

/** Every worker of a shared run reaches the end; the first to do so marks the run completed. */
async function completeRun(request: RunRequest, runId: string): Promise<void> {
  try {
    await request.sql.transaction((tx) => finishRun(tx, runId, 'completed'));
  } catch (error) {
    const run = request.sharedRun ? await findRun(request.sql, runId) : undefined;
    if (run?.status !== 'completed') throw error;
  }
}

/** With a shared run: blocks until every partition of `entity` is done, whichever worker read it. */
async function waitForOtherWorkers(request: RunRequest, runId: string, entity: MigratedEntity, progress: ProgressSink, claim: RunClaim): Promise<void> {
  const shared = request.sharedRun;
  if (shared === undefined) return;
  const partitions = shared.allPartitions(entity);
  let announced = false;
  for (;;) {
    // Waiting writes nothing, but a worker whose share may be another's by now has no business going on.
    const lost = claim.lost();
    if (lost !== undefined) throw lost;
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

/** An entity's batches, asked for ahead: reading starts at once, before the writer gets to it. */
interface EntityReading {
  entity: MigratedEntity;
  batches: AsyncIterator<MappedBatch>;
  first: Promise<IteratorResult<MappedBatch>>;
}

/**
 * Starts reading an entity. `whenRead` is called once the reader is done with it; `next` is the
 * entity read after it, from its checkpoints as they stand (this session writes them only once
 * its turn comes), so that the source may ask for its first pages early.
 */
async function openEntity(
  request: RunRequest,
  reader: RecordReader,
  runId: string,
  entity: MigratedEntity,
  indexLinks: boolean,
  { whenRead, next }: { whenRead?: () => void; next?: MigratedEntity } = {},
): Promise<EntityReading> {
  const from = await loadCheckpoints(request.sql, runId, entity);
  const nextRead = next === undefined ? undefined : { entity: next, from: await loadCheckpoints(request.sql, runId, next) };
  const batches = reader.batches(entity, from, { indexLinks, runId, ...(whenRead === undefined ? {} : { whenRead }), ...(nextRead === undefined ? {} : { next: nextRead }) })[Symbol.asyncIterator]();
  const first = batches.next();
  // Awaited when the entity's turn comes; a failure must not go unhandled before then.
  first.catch(() => {});
  return { entity, batches, first };
}

/** A reading the run no longer wants (it failed first): stopped whenever it next yields, not waited for. */
function abandon(reading: EntityReading | undefined): void {
  void reading?.batches.return?.()?.catch(() => {});
}

/**
 * Writes an entity's batches in order, each in its own transaction with its checkpoints. The
 * database works in another process: while it writes one batch, the reader maps the next; when
 * the entity has no more, `readNext` starts the next entity's reading during the last write.
 */
async function loadEntity(
  request: RunRequest,
  runId: string,
  reading: EntityReading,
  progress: ProgressSink,
  sessionWrites: SessionWrites,
  readNext?: () => Promise<void>,
): Promise<void> {
  const { sql } = request;
  const { entity } = reading;
  const figures = newProgress(entity, 'load');

  // A batch that found its records' rows in the target (a re-run) tells the writer the next will too.
  let rowsLikelyHeld = false;
  const write = async (batch: MappedBatch): Promise<void> => {
    const outcome = await writeBatch(sql, {
      runId,
      targetSchema: request.targetSchema,
      entity,
      prepared: batch.prepared,
      mappingRejects: batch.mappingRejects,
      read: batch.read,
      skipped: batch.skipped,
      personFallbacks: batch.personFallbacks,
      checkpoints: batch.checkpoints,
      converge: request.converge ?? false,
      tenant: request.converge ? request.tenant : undefined,
      rowsLikelyHeld,
      sessionWrites,
    });
    rowsLikelyHeld = outcome.rowsOut > outcome.inserted || outcome.deleted > 0;
    batch.written?.();
    figures.read += batch.read;
    figures.skipped += batch.skipped;
    figures.migrated += outcome.migrated;
    figures.rejected += outcome.rejects.length;
    figures.rowsOut += outcome.rowsOut;
    figures.inserted += outcome.inserted;
    figures.updated += outcome.updated;
    figures.unchanged += outcome.unchanged;
    progress.update({ ...figures });
  };

  // One batch writes while the next is read; they commit one at a time, in order, so a
  // partition's checkpoint only moves forward.
  let writing: Promise<void> | undefined;
  try {
    for (let next = await reading.first; !next.done; next = await reading.batches.next()) {
      await writing;
      writing = write(next.value);
      // Awaited before the next batch or at the end; a failure must not go unhandled in between.
      writing.catch(() => {});
    }
    await readNext?.();
    await writing;
  } catch (error) {
    // No batch may still be writing when the run is marked failed.
    await writing?.catch(() => {});
    abandon(reading);
    throw error;
  }
  figures.done = true;
  progress.update({ ...figures });
}
