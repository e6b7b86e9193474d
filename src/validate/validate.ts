import { MigrateError } from '../errors.js';
import type { LegacySource } from '../model/source.js';
import { findRun, runCounts, type RunRecord } from '../load/ledger.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { readLinkLookups } from '../reading/lookups.js';
import {
  DATA_ENTITIES,
  LEGACY_ENTITIES,
  MIGRATED_ENTITIES,
  type DataEntity,
  type LegacyEntity,
  type LegacyItem,
  type MigratedEntity,
  type RejectReason,
} from '../transform/index.js';
import { accountingCheck, countTarget, fanOutCheck, orphansCheck, referenceCheck, rowsCheck, tableOf, type EntityTally, type TargetCounts } from './checks.js';
import { expectData, expectLinks, mayYieldRowIn, type RecordExpectation } from './expectations.js';
import { RejectLedger } from './reject-ledger.js';
import {
  DifferenceList,
  outcomeOf,
  REPORT_VERSION,
  type CheckResult,
  type Difference,
  type EntityReport,
  type ValidationReport,
} from './report.js';
import { rowHashOf, scopeCondition, scopeParams, targetRows, type TargetScope } from './row-digest.js';
import { readTargetLayout } from '../load/target-ownership.js';
import { progressCacheCheck } from './progress-cache-check.js';
import { checkSamples, readSampleTargetRows, recountAndReadByKey, started, type SampleTargetRows } from './samples.js';
import { PassTotals } from './pass-totals.js';
import { startFactWorker } from './fact-pass.js';
import type { ResolvedConfig } from '../config/resolve.js';
import { checkIndexUse, checkSchema } from './schema-check.js';
import { CONTRACT_COLUMNS, KEY_COLUMNS } from './target-columns.js';

export interface ValidationRequest {
  source: LegacySource;
  sql: SqlClient;
  targetSchema: string;
  /**
   * The run whose rejects and tenant filter the accounting uses; by default the latest completed
   * run (not a dry run) into this schema. None at all: every record must then be in the target.
   */
  runId?: string;
  /** Records re-read by key and compared column by column (0: none). */
  sample: number;
  /** Chooses the sample; the same seed and source give the same sample. */
  seed: number;
  /** Compare every contract column of every row (checksums per bucket of ids), not only the keys. */
  full?: boolean;
  /** Differences listed per check, at most. */
  limit?: number;
  /** For the report: where this ran, with what. */
  environment?: string;
  codeVersion?: string;
  configFingerprint?: string;
  sourceDescription?: string;
  targetDescription?: string;
  progress?: (message: string) => void;
  /**
   * The configuration `source` was opened from, when a worker thread may open it again
   * (factWorkerAvailable): some fact tables are then mapped there, beside this thread.
   */
  factWorker?: { config: ResolvedConfig };
}

export const DEFAULT_DIFFERENCE_LIMIT = 50;

/**
 * The fact tables a fact worker maps while this thread maps the links and the others. This thread
 * reads the lookups and the links before the worker can start (it maps over their index) and
 * rereads every table by key, so the worker takes the larger share of facts: at 200,000 facts
 * (80,000 actuals; 60,000 milestones, 60,000 readings), milestones and readings in the worker
 * took validate from 7.85 to 7.5 s and `--full` from 10.65 to 10.2 s (3 and 2 alternating runs)
 * against actuals and readings, and actuals alone 8.1 s; measured when the worker still read the
 * links itself, and the split still leaves this thread waiting for the worker at the end.
 */
const FACTS_IN_WORKER: readonly DataEntity[] = ['KpiMilestone', 'KpiReading'];

class PhaseClock {
  readonly phases: { name: string; seconds: number; items?: number }[] = [];
  async time<T>(name: string, work: () => Promise<T>, items?: (result: T) => number): Promise<T> {
    const started = performance.now();
    const result = await work();
    const seconds = (performance.now() - started) / 1000;
    const count = items?.(result);
    this.phases.push({ name, seconds: round(seconds), ...(count === undefined ? {} : { items: count }) });
    return result;
  }

  /** A phase timed elsewhere (in another thread), placed before the phase named `before` (or last). */
  insert(phase: { name: string; seconds: number; items: number }, before: string): void {
    const at = this.phases.findIndex((p) => p.name === before);
    this.phases.splice(at === -1 ? this.phases.length : at, 0, { ...phase, seconds: round(phase.seconds) });
  }
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/**
 * Proves a migration from the source and the target alone, whatever wrote the target: the
 * expected rows are recomputed by re-reading the source through the transform, and the run's
 * ledger is used for its rejects and tenant filter only, never for its counters.
 *
 * Memory: the lookups and link index (as a run holds them), the run's rejects by record, bucket
 * figures (4,096 per table), the sample candidates (2N), and — only when buckets differ — the
 * expected rows of the differing buckets (at most DRILL_ROW_BUDGET).
 */
export async function validateMigration(request: ValidationRequest): Promise<ValidationReport> {
  const { sql, source, targetSchema: schema } = request;
  const limit = request.limit ?? DEFAULT_DIFFERENCE_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new MigrateError('USAGE', `--limit must be a whole number ≥ 1, got ${limit}`);
  if (!Number.isSafeInteger(request.sample) || request.sample < 0) throw new MigrateError('USAGE', `--sample must be a whole number ≥ 0, got ${request.sample}`);
  if (!Number.isSafeInteger(request.seed)) throw new MigrateError('USAGE', `--seed must be a whole number, got ${request.seed}`);
  const say = request.progress ?? (() => {});
  const startedAt = new Date();
  const clock = new PhaseClock();
  const checks: CheckResult[] = [];
  const warnings: string[] = [];

  const schemaFindings = await clock.time('schema', () => checkSchema(sql, schema, limit));
  checks.push(schemaFindings.check);
  const run = schemaFindings.usable ? await resolveRun(sql, request.runId, schema, warnings) : undefined;
  const tenant = tenantOf(run);
  const asOf = run === undefined ? undefined : await syncedPositions(sql, run.id);
  const described = asOf === undefined ? request : { ...request, sourceDescription: [request.sourceDescription, asOf].filter((part) => part !== undefined).join('; ') };
  const base = { request: described, startedAt, clock, checks, warnings, run, tenant, limit };
  if (!schemaFindings.usable) {
    warnings.push('the target lacks the tables every other check reads: only the schema was checked');
    return finish(base, []);
  }

  const tenantScope: TargetScope = { schema, layout: await readTargetLayout(sql, schema), ...(tenant === undefined ? {} : { tenant }) };
  await noteApplicationRows(sql, tenantScope, warnings);
  const keptCandidates = await linksTheApplicationReferences(sql, tenantScope);
  const runName = run === undefined ? 'no run' : `run ${run.id}`;
  const ledger = await RejectLedger.load(sql, run?.id);
  const columns = request.full ? CONTRACT_COLUMNS : KEY_COLUMNS;
  const rowHash = await rowHashOf(sql);
  const totals = new PassTotals(columns, limit, { size: request.sample, seed: request.seed }, rowHash);
  const { tallies, reconciliations } = totals;
  const unknownKpiLinks = new DifferenceList(limit);
  const fallbackLinks = new DifferenceList(limit);

  const visit = (expectation: RecordExpectation): void => {
    if (!totals.add(expectation) || expectation.entity !== 'GoalKpiLink') return;
    let link: string | undefined;
    for (const row of expectation.rows) {
      // Nearly always none: the application references few or no links.
      if (keptCandidates.size > 0) keptCandidates.delete(row.id.toLowerCase());
      link ??= row.id;
    }
    const reference = (message: string): Difference => ({ kind: 'reference', id: link, table: 'kpi_links', entity: 'GoalKpiLink', sourceId: expectation.sourceId, message });
    if (expectation.kpiKnown === false) unknownKpiLinks.add(reference(`link ${link} refers to a KPI the source’s kpis table does not hold`));
    if (expectation.personFallback === true) fallbackLinks.add(reference(`link ${link}: no person is linked to its user, person_id is the user GUID`));
  };

  const refusedLinks = ledger.refusedSourceIds('GoalKpiLink');
  // kpi_data's side of the target does not depend on which links the source produces (kept links
  // are kpi_links rows): the database counts and digests it, then recomputes the progress cache,
  // while this thread reads the lookups and the links and the worker waits for their index.
  const background = <T>(read: (session: SqlSession) => Promise<T>): Promise<T> => inBackground(sql, read);
  const dataFiguresRead = reconciliations.kpi_data.readTargetFigures(sql, tenantScope, undefined, background);
  const dataCountsRead = started(dataFiguresRead.then(() => background((session) => countTarget(session, tenantScope, ['kpi_data']))));
  const progressCacheRead = started(dataCountsRead.catch(() => undefined).then(() => background((session) => progressCacheCheck(session, schema, limit))));
  // The orphans do not depend on the source either: counted then, not after the pass.
  const orphansRead = started(progressCacheRead.catch(() => undefined).then(() => background((session) => orphansCheck(session, tenantScope, limit))));
  // The fact worker starts and opens the source while this thread reads the lookups and the links, then maps over their index.
  const workerFacts = request.factWorker === undefined ? [] : FACTS_IN_WORKER;
  const factWorker =
    request.factWorker === undefined
      ? undefined
      : startFactWorker({
          config: request.factWorker.config,
          setup: {
            entities: [...workerFacts],
            ...(tenant === undefined ? {} : { tenant }),
            ...(run === undefined ? {} : { runId: run.id }),
            rejects: ledger.recordsOf(workerFacts),
            full: request.full ?? false,
            limit,
            sample: { size: request.sample, seed: request.seed },
            rowHash,
          },
        });
  const passOverSource = async () => {
    say('reading the KPIs and people');
    const { lookups, outcomes } = await clock.time('lookups', () => readLinkLookups(source), (read) => read.outcomes.reduce((sum, o) => sum + o.read, 0));
    const pass = ledger.startPass();
    say('mapping the links again');
    const links = await timedEntity(clock, tallies, 'GoalKpiLink', () => expectLinks(source, lookups, pass, { tenant, refusedLinks }, visit));
    factWorker?.giveLinks(links);
    // Every link has been seen: the kept links, and so what the target side is, are known.
    const keptLinks = [...keptCandidates].sort();
    noteKeptLinks(keptLinks, limit, warnings);
    const scope: TargetScope = keptLinks.length === 0 ? tenantScope : { ...tenantScope, keptLinks };
    // Then kpi_links's side, while the facts stream through the transform, one scan after another
    // (the machine this was measured on has two cores, which the pass keeps busy).
    const linkCountsRead = started(progressCacheRead.catch(() => undefined).then(() => background((session) => countTarget(session, scope, ['kpi_links']))));
    reconciliations.kpi_links.readTargetFigures(sql, scope, linkCountsRead.catch(() => undefined), background);
    const targetCountsRead = started(Promise.all([dataCountsRead, linkCountsRead]).then(([data, links]) => ({ ...data, ...links }) as Record<MigratedEntity, TargetCounts>));
    // The planner's choices for the application's main reads, at the tables' sizes, during the pass too.
    const indexUseRead = started(
      targetCountsRead.then((counts) => {
        const tableRows = { kpi_links: counts.GoalKpiLink.rows, kpi_data: DATA_ENTITIES.reduce((sum, entity) => sum + counts[entity].rows, 0) };
        return checkIndexUse(sql, schema, schemaFindings.indexes, tableRows, schemaFindings.layout);
      }),
    );
    if (factWorker !== undefined) say(`mapping ${workerFacts.join(', ')} again in a worker thread`);
    const here = MIGRATED_ENTITIES.filter((entity) => !workerFacts.includes(entity as DataEntity));
    for (const entity of DATA_ENTITIES) {
      if (!here.includes(entity)) continue;
      say(`mapping ${entity} again`);
      await timedEntity(clock, tallies, entity, () => expectData(source, entity, links, pass, tenant, visit));
    }
    for (const entity of here) for (const difference of pass.leftovers(entity)) tallies[entity].differences.add(difference);

    say('recounting the source and reading the sample’s candidates again by key');
    // This thread's tables, then the worker's, each once the worker has mapped it (it maps the next meanwhile).
    const rereadHere = LEGACY_ENTITIES.filter((entity) => !workerFacts.includes(entity as DataEntity));
    let sampleRowsRead: SampleTargetRows | undefined;
    const reread = await clock.time('recount', async () => {
      // Where the source reads by a condition on the Id, the worker's tables are read again while it
      // maps them: the records this thread's sample could still choose, among which are the whole
      // sample's records of those tables. Elsewhere each table's candidates once the worker has mapped it.
      const readWhileMapped = new Map<DataEntity, Promise<{ count: number; items: LegacyItem[] }>>();
      for (const entity of factWorker === undefined ? [] : workerFacts) {
        const wanted = totals.sampler.couldChoose(entity);
        if (wanted !== undefined && source.countAndGetItemsWhere !== undefined) readWhileMapped.set(entity, started(source.countAndGetItemsWhere(entity, wanted)));
      }
      const read = await recountAndReadByKey(source, rereadHere, totals.sampler.chosen());
      if (factWorker === undefined) return read;
      for (const [at, entity] of workerFacts.entries()) {
        const candidates = readWhileMapped.has(entity) ? [] : await factWorker.candidates(entity);
        if (at === workerFacts.length - 1) {
          // The worker is done: the sample is known, and its target rows are read (while its last table is read again, if it is).
          totals.merge(await factWorker.totals);
          sampleRowsRead = readSampleTargetRows(sql, scope, totals.sampler.chosen());
        }
        const { count, items } = await (readWhileMapped.get(entity) ??
          recountAndReadByKey(source, [entity], candidates).then((theirs) => ({ count: theirs.counts.get(entity)!, items: theirs.items.get(entity) ?? [] })));
        read.counts.set(entity, count);
        read.items.set(entity, items);
      }
      return read;
    });
    if (factWorker !== undefined) {
      for (const entity of workerFacts) clock.insert({ name: entity, seconds: tallies[entity].seconds, items: tallies[entity].streamed }, 'recount');
    }
    const recount = {} as Record<LegacyEntity, number>;
    for (const entity of LEGACY_ENTITIES) recount[entity] = reread.counts.get(entity)!;
    const readBefore = reread.items;
    return { lookups, outcomes, links, scope, targetCountsRead, indexUseRead, recount, readBefore, sampleRowsRead };
  };
  let passed: Awaited<ReturnType<typeof passOverSource>>;
  try {
    passed = await passOverSource();
  } finally {
    await factWorker?.stop();
  }
  const { lookups, outcomes, links, scope, targetCountsRead, indexUseRead, recount, readBefore, sampleRowsRead } = passed;
  const targetCounts = await clock.time('target counts', () => targetCountsRead);
  const ledgerCounts = run === undefined ? undefined : await runCounts(sql, run.id);

  for (const entity of MIGRATED_ENTITIES) checks.push(accountingCheck(entity, recount[entity], tallies[entity], targetCounts[entity], ledger, runName, ledgerCounts));
  for (const entity of DATA_ENTITIES) checks.push(fanOutCheck(entity, tallies[entity], targetCounts[entity]));

  say('comparing rows per bucket of ids');
  const plans = await clock.time('rows', async () => ({
    kpi_links: await reconciliations.kpi_links.compareBuckets(sql, scope),
    kpi_data: await reconciliations.kpi_data.compareBuckets(sql, scope),
  }));
  if (plans.kpi_links !== undefined || plans.kpi_data !== undefined) {
    say('reading the differing buckets row by row');
    await clock.time('drill-down', async () => {
      const drillPass = ledger.startPass();
      const keep = (expectation: RecordExpectation) => {
        for (const row of expectation.rows) reconciliations[tableOf(expectation.entity)].addForDrill(row);
      };
      if (plans.kpi_links !== undefined) {
        await expectLinks(source, lookups, drillPass, { tenant, refusedLinks: ledger.refusedSourceIds('GoalKpiLink') }, keep);
      }
      const dataPlan = plans.kpi_data;
      if (dataPlan !== undefined) {
        for (const entity of DATA_ENTITIES) {
          await expectData(source, entity, links, drillPass, tenant, keep, (item) => mayYieldRowIn(entity, item, links, dataPlan.buckets));
        }
      }
    });
  }
  for (const table of ['kpi_links', 'kpi_data'] as const) {
    const reconciliation = reconciliations[table];
    const differences = plans[table] === undefined ? new DifferenceList(limit) : await reconciliation.differences(sql, scope, limit, runName);
    checks.push(rowsCheck(reconciliation, differences, request.full ?? false));
  }

  say(`re-reading ${request.sample} sampled records by key`);
  checks.push(
    await clock.time('samples', async () =>
      checkSamples({ sql, source, scope, lookups, links, ledger, runName, limit, seed: request.seed, requested: request.sample }, totals.sampler.chosen(), readBefore, sampleRowsRead),
    ),
  );
  checks.push(await clock.time('orphans', () => orphansRead));
  say('the progress cache recomputed');
  checks.push(await clock.time('progress cache', () => progressCacheRead));
  checks.push(referenceCheck('unknown-kpis', unknownKpiLinks, (n) => `${n} migrated link(s) refer to a KPI the source’s kpis table does not hold (their person came from CreatedBy)`, 'every migrated link refers to a known KPI'));
  checks.push(
    referenceCheck('person-fallbacks', fallbackLinks, (n) => `${n} migrated link(s) have no person linked to their user: person_id is the user GUID itself`, 'every migrated link found its person', {
      runLedger: ledgerCounts?.entities.GoalKpiLink?.personFallbacks,
    }),
  );
  checks.push(...(await clock.time('index use', () => indexUseRead)));

  const entities: EntityReport[] = LEGACY_ENTITIES.map((entity) => {
    const fromLedger = ledgerCounts?.entities[entity];
    const ledgerFigures = fromLedger === undefined ? {} : {
      ledger: {
        read: fromLedger.read, migrated: fromLedger.migrated, rejected: fromLedger.rejected, skipped: fromLedger.skipped,
        rowsOut: fromLedger.rowsOut, inserted: fromLedger.inserted, updated: fromLedger.updated, unchanged: fromLedger.unchanged,
      },
    };
    if (entity === 'Kpi' || entity === 'Person') {
      const outcome = outcomes.find((o) => o.entity === entity)!;
      const byReason: Partial<Record<RejectReason, number>> = {};
      for (const reject of outcome.rejects) byReason[reject.reason] = (byReason[reject.reason] ?? 0) + 1;
      return { entity, read: recount[entity], migrated: outcome.used, rejected: outcome.rejects.length, rejectsByReason: byReason, skipped: 0, ...ledgerFigures };
    }
    const tally = tallies[entity];
    return {
      entity,
      read: recount[entity],
      migrated: targetCounts[entity].records,
      rejected: ledger.rejectedCount(entity),
      rejectsByReason: ledger.countsByEntity.get(entity) ?? {},
      skipped: tally.skipped,
      rows: targetCounts[entity].rows,
      expectedRows: tally.expectedRows,
      ...(tally.seconds > 0 ? { itemsPerSecond: Math.round(tally.streamed / tally.seconds) } : {}),
      ...ledgerFigures,
    };
  });
  return finish(base, entities);
}

/**
 * A read of the target made while the source is read, in a transaction of its own without
 * parallel workers: it ends long before the pass over the source on any server, so workers
 * would only take cores from that pass (on two cores, --full took 0.24–0.26 s longer with them).
 */
function inBackground<T>(sql: SqlClient, read: (session: SqlSession) => Promise<T>): Promise<T> {
  return sql.transaction(async (session) => {
    await session.query('set local max_parallel_workers_per_gather = 0');
    return read(session);
  });
}

async function timedEntity<T>(clock: PhaseClock, tallies: Record<MigratedEntity, EntityTally>, entity: MigratedEntity, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await clock.time(entity, work, () => tallies[entity].streamed);
  tallies[entity].seconds = (performance.now() - started) / 1000;
  return result;
}

function finish(
  base: { request: ValidationRequest; startedAt: Date; clock: PhaseClock; checks: CheckResult[]; warnings: string[]; run: RunRecord | undefined; tenant: string | undefined; limit: number },
  entities: EntityReport[],
): ValidationReport {
  const { request, startedAt, clock, checks, warnings, run, tenant, limit } = base;
  const finishedAt = new Date();
  return {
    reportVersion: REPORT_VERSION,
    kind: 'validate',
    runId: run?.id ?? null,
    outcome: outcomeOf(checks),
    generatedAt: finishedAt.toISOString(),
    environment: request.environment ?? run?.environment ?? 'unknown',
    codeVersion: request.codeVersion ?? 'unknown',
    configFingerprint: request.configFingerprint ?? 'unknown',
    source: { kind: request.source.kind, ...(request.sourceDescription === undefined ? {} : { description: request.sourceDescription }) },
    target: { database: request.targetDescription ?? request.sql.dialect, schema: request.targetSchema },
    options: {
      sample: request.sample,
      seed: request.seed,
      full: request.full ?? false,
      limit,
      tenant: tenant ?? null,
      runStatus: run?.status ?? null,
      runSourceKind: run?.sourceKind ?? null,
    },
    timings: {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      seconds: round((finishedAt.getTime() - startedAt.getTime()) / 1000),
      phases: clock.phases,
    },
    entities,
    checks,
    warnings,
  };
}

/** Rows without provenance are the application's (contract §5): every check leaves them out, and says so. */
async function noteApplicationRows(sql: SqlSession, scope: TargetScope, warnings: string[]): Promise<void> {
  const { rows } = await sql.query<{ links: string; data: string }>(
    `select (select count(*) from ${targetRows(scope, 'kpi_links')} t where t.source_entity is null)::text as links,
            (select count(*) from ${targetRows(scope, 'kpi_data')} t where t.source_entity is null)::text as data`,
  );
  const { links, data } = rows[0] ?? { links: '0', data: '0' };
  if (links !== '0' || data !== '0') {
    warnings.push(`${links} kpi_links and ${data} kpi_data row(s) have no provenance: the application wrote them, so they are not the migration's and were not compared`);
  }
}

/**
 * Tool-written links (in scope) that rows of the application reference. Those no source record
 * produces any longer are the links the sweep kept (kept_referenced): the foreign key forbids
 * deleting them and the tool never deletes the application's rows.
 */
async function linksTheApplicationReferences(sql: SqlSession, scope: TargetScope): Promise<Set<string>> {
  const { rows } = await sql.query<{ id: string }>(
    `select t.id::text as id from ${targetRows(scope, 'kpi_links')} t
     where ${scopeCondition('kpi_links', scope, 1)}
       and exists (select 1 from ${targetRows(scope, 'kpi_data')} d where d.kpi_link_id = t.id and d.source_entity is null)`,
    scopeParams(scope, 'kpi_links'),
  );
  return new Set(rows.map((row) => row.id.toLowerCase()));
}

/** A kept link is not the migration's, but not the application's either: every check leaves it out, and says which. */
function noteKeptLinks(keptLinks: readonly string[], limit: number, warnings: string[]): void {
  if (keptLinks.length === 0) return;
  const named = keptLinks.slice(0, limit).join(', ') + (keptLinks.length > limit ? ` and ${keptLinks.length - limit} more` : '');
  warnings.push(
    `${keptLinks.length} kpi_links row(s) written by the tool are produced by no record of the source, but kept because rows of the application (no provenance) reference them: ${named}; they were not compared`,
  );
}

async function resolveRun(sql: SqlSession, runId: string | undefined, schema: string, warnings: string[]): Promise<RunRecord | undefined> {
  let run: RunRecord | undefined;
  if (runId !== undefined) {
    // A sync keeps the reject set of the run it continues: that run is the one to account with.
    const { rows } = await sql.query<{ id: string }>('select coalesce(sync_of, id)::text as id from kpi_migrate.runs where id = $1::bigint', [runId]);
    run = rows[0] === undefined ? undefined : await findRun(sql, rows[0].id);
    if (run === undefined) throw new MigrateError('RUN_NOT_FOUND', `run ${runId} does not exist`);
  } else {
    const { rows } = await sql.query<{ id: string }>(
      `select id::text as id from kpi_migrate.runs where status = 'completed' and not dry_run and target_schema = $1 and sync_of is null order by runs.id desc limit 1`,
      [schema],
    );
    run = rows[0] === undefined ? undefined : await findRun(sql, rows[0].id);
    if (run === undefined) warnings.push('no completed run into this schema: the accounting takes the rejects to be none');
  }
  if (run === undefined) return undefined;
  if (run.targetSchema !== schema) throw new MigrateError('RUN_STATE', `run ${run.id} wrote to schema ${run.targetSchema}, not ${schema}`);
  if (run.status !== 'completed') warnings.push(`run ${run.id} is ${run.status}: its rejects may be incomplete`);
  if (run.dryRun) warnings.push(`run ${run.id} was a dry run: it wrote no rows and kept no rejects`);
  return run;
}

/**
 * What the source's change stream had been applied up to when a run was synced (the stream
 * positions, per table and shard): the state of the source this validation is as of. Undefined
 * when no sync applied anything to the run.
 */
async function syncedPositions(sql: SqlSession, runId: string): Promise<string | undefined> {
  const { rows } = await sql.query<{ entity: string; partition: string; position: string | null; done: boolean }>(
    'select entity, partition, position::text as position, done from kpi_migrate.change_positions where run_id = $1::bigint order by entity, partition',
    [runId],
  );
  if (rows.length === 0) return undefined;
  const positions = rows.map((row) => {
    const window = exportWindowOf(row.partition, row.position);
    if (window !== undefined) return `${row.entity} ${window}`;
    return `${row.entity} ${row.partition} ${row.position ?? 'start'}${row.done ? ' (closed, read to its end)' : ''}`;
  });
  return `as of the changes synced into run ${runId}: ${positions.join(', ')}`;
}

/**
 * A sync from incremental exports records, per table, the end of the last window it applied
 * (partition `exported-through`, position `{ time, export, kind }`): the report says it in words.
 */
function exportWindowOf(partition: string, position: string | null): string | undefined {
  if (partition !== 'exported-through' || position === null) return undefined;
  const { time, export: id, kind } = JSON.parse(position) as { time?: unknown; export?: unknown; kind?: unknown };
  if (typeof time !== 'string') return undefined;
  return `exported through ${time} (the ${kind === 'incremental' ? 'incremental' : 'full'} export ${String(id)})`;
}

function tenantOf(run: RunRecord | undefined): string | undefined {
  const tenant = run?.options.tenant;
  // As the runner reads --tenant: lowercase, braces dropped.
  return typeof tenant === 'string' && tenant !== '' ? tenant.toLowerCase().replace(/[{}]/g, '') : undefined;
}
