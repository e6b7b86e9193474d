import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLE_LOCK_CLASS } from '../../src/load/batch-writer.js';
import { CLAIM_APPLICATION_NAME } from '../../src/load/run-claim.js';
import { KPI_LINKS_TABLE, tableStatements } from '../../src/load/target-table.js';
import { MIGRATED_ENTITIES } from '../../src/model/entities.js';
import { describeOutcome, startCli, type CliOutcome, type CliProcess } from '../support/child-cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { loadFixturesIntoDynamoDb } from '../support/dynamodb-fixtures.js';
import { SMALL_FIXTURES, expectedOutcome } from '../support/fixtures.js';
import { rowsPerSourceEntity } from '../support/target-rows.js';
import { accountingOf, expectBalanced, pollUntil, runIds, runStatus, temporaryDirectory, type Accounting } from './harness.js';
import { missing } from '../support/prerequisites.js';

const skipReason = missing('postgres-server');
if (skipReason) console.warn(`skipping the run-claim process tests: ${skipReason}`);

/** Far beyond what any step here takes: a bound on a hang, not a measure of speed. */
const BOUND_MS = 90_000;

/**
 * A connection of the test's own that holds batch-writer's lock on kpi_links in an open
 * transaction: every process that gets to its first links batch waits there, holding its claim,
 * until release(). That holds a run in the middle of its work without guessing at timings.
 */
async function holdLinksTable(url: string): Promise<{ waiting(): Promise<number>; release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url, application_name: 'kpi-migrate-test-blocker' });
  await client.connect();
  const table = tableStatements('public', KPI_LINKS_TABLE).target;
  await client.query('begin');
  await client.query('select pg_advisory_xact_lock($1, hashtext($2))', [TABLE_LOCK_CLASS, table]);
  let released = false;
  return {
    async waiting() {
      const { rows } = await client.query<{ n: number }>(
        `select count(*)::int as n from pg_locks
          where locktype = 'advisory' and classid = $1::int4::oid and objid = hashtext($2)::oid and not granted
            and database = (select oid from pg_database where datname = current_database())`,
        [TABLE_LOCK_CLASS, table],
      );
      return rows[0]!.n;
    },
    async release() {
      if (released) return;
      released = true;
      await client.query('commit').catch(() => {});
      await client.end();
    },
  };
}

/** The application_name of every connection holding a claim on this database. */
async function claimConnections(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.sql.query<{ name: string }>(
    `select application_name as name from pg_stat_activity
      where datname = current_database() and application_name like $1 order by 1`,
    [`${CLAIM_APPLICATION_NAME} %`],
  );
  return rows.map((row) => row.name);
}

/** Everything a run leaves in the ledger and the target: what a refused process must not change. */
async function ledgerAndTarget(db: TestDatabase): Promise<unknown> {
  const { rows } = await db.sql.query<{ state: string }>(
    `select json_build_object(
       'runs', (select json_agg(json_build_array(id, label, status, finished_at, error) order by id) from kpi_migrate.runs),
       'counts', (select json_agg(c order by c.run_id, c.entity) from kpi_migrate.run_counts c),
       'checkpoints', (select json_agg(c order by c.run_id, c.entity, c.partition) from kpi_migrate.checkpoints c),
       'rejects', (select count(*) from kpi_migrate.rejects),
       'reports', (select count(*) from kpi_migrate.reports),
       'links', (select count(*) from public.kpi_links),
       'data', (select count(*) from public.kpi_data))::text as state`,
  );
  return JSON.parse(rows[0]!.state) as unknown;
}

/** The child's outcome, or a failure (the child killed) when it has not ended within BOUND_MS. */
async function endOf(child: CliProcess, what: string): Promise<CliOutcome> {
  const stop = new AbortController();
  const outcome = await Promise.race([child.exited, sleep(BOUND_MS, undefined, { signal: stop.signal }).catch(() => undefined)]);
  stop.abort();
  if (outcome !== undefined) return outcome;
  throw new Error(`${what} did not end within ${BOUND_MS} ms: ${describeOutcome(await child.kill())}`);
}

/** Polls until `check` holds, while `child` runs; fails naming `what` when the child ended first. */
async function untilWhileRunning(child: CliProcess, what: string, check: () => Promise<boolean>): Promise<void> {
  const reached = await pollUntil(async () => ((await check()) ? true : undefined), child.running, 20);
  if (reached === undefined) throw new Error(`the first process ended before ${what}: ${describeOutcome(await child.exited)}`);
}

/** The run's figures are those of the committed fixtures, each record counted once. */
function expectFixtureOutcome(accounting: Accounting): void {
  const expected = expectedOutcome();
  expectBalanced(accounting);
  for (const entity of MIGRATED_ENTITIES) {
    const { read, migrated, rejectsByReason, skipped } = accounting[entity]!;
    const want = expected.tables[entity];
    expect({ entity, read, migrated, rejectsByReason, skipped }).toEqual({ entity, read: want.read, migrated: want.migrated, rejectsByReason: want.rejected, skipped: want.skipped });
  }
}

describe.skipIf(skipReason !== undefined)('one process per run or share: the claim (CLI processes on real PostgreSQL)', () => {
  const databases: TestDatabase[] = [];
  const children: CliProcess[] = [];
  const blockers: { release(): Promise<void> }[] = [];
  let work: Awaited<ReturnType<typeof temporaryDirectory>>;
  const start = (args: string[]): CliProcess => {
    const child = startCli(args, { cwd: work.dir });
    children.push(child);
    return child;
  };
  const newDatabase = async (): Promise<TestDatabase> => {
    const db = await createTestDatabase();
    databases.push(db);
    return db;
  };
  const block = async (db: TestDatabase) => {
    const blocker = await holdLinksTable(db.url);
    blockers.push(blocker);
    return blocker;
  };

  beforeAll(async () => {
    work = await temporaryDirectory('claim');
  });

  afterAll(async () => {
    for (const child of children) await child.kill('SIGKILL');
    for (const blocker of blockers) await blocker.release();
    for (const db of databases) await db.drop();
    await work?.remove();
  });

  const exportArgs = (db: TestDatabase, ...extra: string[]) => [
    'run', '--source', 'export', '--export-dir', path.join(SMALL_FIXTURES, 'export'), '--database-url', db.url, '--batch-rows', '40', ...extra,
  ];

  /** A run started on a database of its own and parked at its first links batch, its claim held. */
  const parkedRun = async () => {
    const db = await newDatabase();
    const blocker = await block(db);
    const first = start(exportArgs(db));
    await untilWhileRunning(first, 'its first links batch', async () => (await blocker.waiting()) > 0);
    const [runId] = await runIds(db.sql);
    return { db, blocker, first, runId: runId! };
  };

  it(
    'a second `run --resume` while the run is working is refused at once and changes nothing; the first completes counting each record once',
    async () => {
      const { db, blocker, first, runId } = await parkedRun();
      expect(await claimConnections(db)).toEqual([`${CLAIM_APPLICATION_NAME} run ${runId}`]);

      const before = await ledgerAndTarget(db);
      for (const again of [exportArgs(db, '--resume'), exportArgs(db, '--resume', runId), exportArgs(db, '--resume', runId, '--dry-run')]) {
        const refused = await endOf(start(again), again.join(' '));
        expect(refused.code, describeOutcome(refused)).toBe(3);
        expect(refused.stderr).toMatch(
          new RegExp(`kpi-migrate: RUN_BUSY: run ${runId} is being worked on by another process \\(PostgreSQL backend \\d+ "${CLAIM_APPLICATION_NAME} run ${runId}"`),
        );
        expect(refused.stdout).toBe('');
      }
      // Nor may the run be rolled back under the process still writing it.
      const rollback = ['rollback', '--run', runId, '--confirm', '--database-url', db.url];
      const refusedRollback = await endOf(start(rollback), rollback.join(' '));
      expect(refusedRollback.code, describeOutcome(refusedRollback)).toBe(3);
      expect(refusedRollback.stderr).toMatch(new RegExp(`kpi-migrate: RUN_BUSY: run ${runId} is being worked on by another process`));
      expect(await ledgerAndTarget(db), 'the refused processes wrote nothing').toEqual(before);

      await blocker.release();
      const done = await endOf(first, 'the first run');
      expect(done.code, describeOutcome(done)).toBe(0);
      expect(await runIds(db.sql)).toEqual([runId]);
      expect(await runStatus(db.sql, runId)).toBe('completed');
      expectFixtureOutcome(await accountingOf(db.sql, runId));
      expect(await rowsPerSourceEntity(db.sql)).toEqual(expectedOutcome().kpiDataRows);
      expect(await claimConnections(db), 'the claim ends with the process').toEqual([]);
    },
    300_000,
  );

  it(
    "the claim's connection terminated mid-run: exit 3 naming the lost claim, nothing more committed, the run left resumable; the resume completes cleanly",
    async () => {
      const { db, blocker, first, runId } = await parkedRun();
      // Only the claim's connection: the run's pool ('kpi-migrate') is left alone.
      const { rows } = await db.sql.query<{ cut: boolean }>(
        `select pg_terminate_backend(pid, 10000) as cut from pg_stat_activity where datname = current_database() and application_name = $1`,
        [`${CLAIM_APPLICATION_NAME} run ${runId}`],
      );
      expect(rows).toEqual([{ cut: true }]);
      const before = await ledgerAndTarget(db);
      await blocker.release();

      const stopped = await endOf(first, 'the run whose claim was cut');
      expect(stopped.code, describeOutcome(stopped)).toBe(3);
      expect(stopped.stderr).toMatch(new RegExp(`kpi-migrate: RUN_CLAIM_LOST: the claim on run ${runId} was lost \\(terminating connection due to administrator command\\)`));
      expect(stopped.stderr).toContain(`run --resume ${runId}`);
      // The batch that was waiting rolled back; the run is left as a killed process leaves it.
      expect(await ledgerAndTarget(db)).toEqual(before);
      expect(await runStatus(db.sql, runId)).toBe('running');

      const resumed = await endOf(start(exportArgs(db, '--resume', runId)), 'the resume');
      expect(resumed.code, describeOutcome(resumed)).toBe(0);
      expect(await runStatus(db.sql, runId)).toBe('completed');
      expectFixtureOutcome(await accountingOf(db.sql, runId));
      expect(await rowsPerSourceEntity(db.sql)).toEqual(expectedOutcome().kpiDataRows);
    },
    300_000,
  );

  it(
    'workers: K=1 and K=2 work at once; a second K=2 and a single-process resume are refused; K=2 SIGKILLed and restarted with the same arguments gets its share back',
    async () => {
      const { endpoint, prefix } = await loadFixturesIntoDynamoDb();
      const db = await newDatabase();
      const label = 'claimed-shares';
      const dynamoArgs = (...extra: string[]) => [
        'run', '--source', 'dynamodb', '--dynamodb-endpoint', endpoint, '--region', 'local', '--table-prefix', prefix,
        '--segments', '4', '--page-limit', '10', '--batch-rows', '20', '--database-url', db.url, ...extra,
      ];
      const workerArgs = (index: number) => dynamoArgs('--worker', `${index}/2`, '--run', label);
      const blocker = await block(db);
      const one = start(workerArgs(1));
      const two = start(workerArgs(2));
      await untilWhileRunning(one, 'both workers reached their links', async () => two.running() && (await blocker.waiting()) === 2);
      const [runId] = await runIds(db.sql);
      const claimOf = (index: number) => `${CLAIM_APPLICATION_NAME} run ${runId} worker ${index}/2`;
      expect(await claimConnections(db)).toEqual([claimOf(1), claimOf(2)]);

      const before = await ledgerAndTarget(db);
      const sameK = await endOf(start(workerArgs(2)), 'a second worker 2/2');
      expect(sameK.code, describeOutcome(sameK)).toBe(3);
      expect(sameK.stderr).toMatch(new RegExp(`kpi-migrate: RUN_BUSY: worker 2/2 of run ${runId} \\(${label}\\) is being worked on by another process \\(PostgreSQL backend \\d+ "${claimOf(2)}"`));
      const single = await endOf(start(dynamoArgs('--resume', runId!)), 'a single-process resume of the shared run');
      expect(single.code, describeOutcome(single)).toBe(3);
      expect(single.stderr).toMatch(new RegExp(`kpi-migrate: RUN_BUSY: run ${runId} \\(${label}\\) is being worked on by another process`));
      expect(single.stderr).toContain(`"${claimOf(1)}"`);
      expect(single.stderr).toContain(`"${claimOf(2)}"`);
      expect(await ledgerAndTarget(db), 'the refused processes wrote nothing').toEqual(before);

      const killed = await two.kill('SIGKILL');
      expect(killed.signal, describeOutcome(killed)).toBe('SIGKILL');
      // PostgreSQL ends the killed process's session when it sees its socket close, and its claim with it.
      await untilWhileRunning(one, 'the killed worker lost its claim', async () => !(await claimConnections(db)).includes(claimOf(2)));
      const restarted = start(workerArgs(2));
      await untilWhileRunning(restarted, 'the restarted worker held its claim', async () => (await claimConnections(db)).includes(claimOf(2)));
      await blocker.release();

      for (const [worker, what] of [[one, 'worker 1/2'], [restarted, 'the restarted worker 2/2']] as const) {
        const outcome = await endOf(worker, what);
        expect(outcome.code, `${what}: ${describeOutcome(outcome)}`).toBe(0);
        expect(outcome.stdout).toContain(`run ${runId} completed`);
      }
      expect(await runIds(db.sql)).toEqual([runId]);
      expect(await runStatus(db.sql, runId!)).toBe('completed');
      expectFixtureOutcome(await accountingOf(db.sql, runId!));
      expect(await rowsPerSourceEntity(db.sql)).toEqual(expectedOutcome().kpiDataRows);
    },
    300_000,
  );
});
