import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { segmentPartition } from '../../src/extract/segments.js';
import type { SqlSession } from '../../src/db/sql-client.js';
import { MIGRATED_ENTITIES } from '../../src/model/entities.js';
import { describeOutcome, runCli, startCli, type CliOutcome, type CliProcess } from '../support/child-cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { loadFixturesIntoDynamoDb } from '../support/dynamodb-fixtures.js';
import { expectedOutcome } from '../support/fixtures.js';
import { rowsPerSourceEntity } from '../support/target-rows.js';
import { expectBalanced, pollUntil, runIds, runStatus, snapshot, temporaryDirectory, type TargetSnapshot } from './harness.js';
import { missing } from '../support/prerequisites.js';

const skipReason = missing('postgres-server');
if (skipReason) console.warn(`skipping the worker-process test: ${skipReason}`);

const WORKERS = 4;
const SEGMENTS = 8;
const LABEL = 'fixtures-4-workers';
// Worker 2 of 4 reads segments 1 and 5.
const VICTIM = 2;
const victimPartitions = Array.from({ length: SEGMENTS }, (_, i) => i)
  .filter((i) => i % WORKERS === VICTIM - 1)
  .map((i) => segmentPartition(i, SEGMENTS));

/** How far the victim's share has come, read in one statement: its data batches committed, and whether its last entity is done. */
async function victimProgress(sql: SqlSession): Promise<{ dataCheckpoints: number; readingsDone: number }> {
  const { rows } = await sql.query<{ data_checkpoints: number; readings_done: number }>(
    `select count(*) filter (where c.entity <> 'GoalKpiLink')::int as data_checkpoints,
            count(*) filter (where c.entity = 'KpiReading' and c.done)::int as readings_done
       from kpi_migrate.checkpoints c join kpi_migrate.runs r on r.id = c.run_id
      where r.label = $1 and c.partition = any($2::text[])`,
    [LABEL, victimPartitions],
  );
  return { dataCheckpoints: rows[0]?.data_checkpoints ?? 0, readingsDone: rows[0]?.readings_done ?? 0 };
}

describe.skipIf(skipReason !== undefined)('4 worker processes on one run (--worker K/N --run LABEL), one SIGKILLed and restarted', () => {
  const expected = expectedOutcome();
  let work: Awaited<ReturnType<typeof temporaryDirectory>>;
  let runArgs: (db: TestDatabase, ...extra: string[]) => string[];
  const databases: TestDatabase[] = [];
  const children: CliProcess[] = [];

  beforeAll(async () => {
    const { endpoint, prefix } = await loadFixturesIntoDynamoDb();
    // Small pages and batches: every worker commits several batches per entity.
    runArgs = (db, ...extra) => [
      'run', '--source', 'dynamodb', '--dynamodb-endpoint', endpoint, '--region', 'local', '--table-prefix', prefix,
      '--segments', String(SEGMENTS), '--page-limit', '5', '--batch-rows', '10', '--database-url', db.url, ...extra,
    ];
    // Each run writes a report file into its working directory: not the repository's.
    work = await temporaryDirectory('workers');
  });

  afterAll(async () => {
    for (const child of children) await child.kill('SIGKILL');
    for (const db of databases) await db.drop();
    await work?.remove();
  });

  it(
    'all started at once, worker 2 killed after committing data and restarted with the same arguments: the rows and accounting of one process',
    async () => {
      const single = await createTestDatabase();
      const shared = await createTestDatabase();
      databases.push(single, shared);

      const alone = await runCli(runArgs(single), { cwd: work.dir });
      expect(alone.code, describeOutcome(alone)).toBe(0);
      const [aloneRun] = await runIds(single.sql);
      const reference: TargetSnapshot = await snapshot(single.sql, aloneRun!);

      const workerArgs = (index: number) => runArgs(shared, '--worker', `${index}/${WORKERS}`, '--run', LABEL);
      const workers = Array.from({ length: WORKERS }, (_, at) => startCli(workerArgs(at + 1), { cwd: work.dir }));
      children.push(...workers);
      const victim = workers[VICTIM - 1]!;

      // Its links are in and some of its data rows; its last entity is not done, so neither is the run.
      const reached = await pollUntil(async () => ((await victimProgress(shared.sql)).dataCheckpoints > 0 ? true : undefined), victim.running);
      expect(reached, `worker ${VICTIM} ended before it committed a data batch: ${victim.running() ? '' : describeOutcome(await victim.exited)}`).toBe(true);
      const killed = await victim.kill('SIGKILL');
      expect(killed.signal, describeOutcome(killed)).toBe('SIGKILL');
      const atKill = await victimProgress(shared.sql);
      expect(atKill.readingsDone, `worker ${VICTIM} was killed before its share was done`).toBeLessThan(victimPartitions.length);
      const [runId] = await runIds(shared.sql);
      expect(await runStatus(shared.sql, runId!)).toBe('running');

      // What a Job does with a failed pod: start it again with the arguments it had.
      const restarted = startCli(workerArgs(VICTIM), { cwd: work.dir });
      children.push(restarted);
      const outcomes: CliOutcome[] = await Promise.all([...workers.filter((w) => w !== victim), restarted].map((w) => w.exited));
      for (const outcome of outcomes) {
        expect(outcome.code, describeOutcome(outcome)).toBe(0);
        expect(outcome.stdout).toContain(`run ${runId} completed`);
      }

      // One run, created by whichever worker arrived first, joined by the others and the restart.
      expect(await runIds(shared.sql)).toEqual([runId]);
      expect(await runStatus(shared.sql, runId!)).toBe('completed');
      const { rows: runRows } = await shared.sql.query<{ label: string; workers: string }>(
        `select label, options ->> 'workers' as workers from kpi_migrate.runs where id = $1::bigint`,
        [runId],
      );
      expect(runRows).toEqual([{ label: LABEL, workers: String(WORKERS) }]);

      const together = await snapshot(shared.sql, runId!);
      expectBalanced(together.accounting);
      expect(together.accounting, 'accounting').toEqual(reference.accounting);
      for (const entity of MIGRATED_ENTITIES) {
        const { read, migrated, rejectsByReason, skipped } = together.accounting[entity]!;
        const want = expected.tables[entity];
        expect({ entity, read, migrated, rejectsByReason, skipped }).toEqual({ entity, read: want.read, migrated: want.migrated, rejectsByReason: want.rejected, skipped: want.skipped });
      }
      expect(together.rejects, 'rejects').toEqual(reference.rejects);
      expect(together.rows.links, 'kpi_links').toEqual(reference.rows.links);
      expect(together.rows.data, 'kpi_data').toEqual(reference.rows.data);
      expect(await rowsPerSourceEntity(shared.sql)).toEqual(expected.kpiDataRows);

      // A pod started again once the run is done (its Job retried it late) finds nothing to do and succeeds.
      const late = await runCli(workerArgs(VICTIM), { cwd: work.dir });
      expect(late.code, describeOutcome(late)).toBe(0);
      expect(await runIds(shared.sql)).toEqual([runId]);
      expect((await snapshot(shared.sql, runId!)).accounting).toEqual(together.accounting);
    },
    300_000,
  );
});
