import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import type { MigrateError } from '../../src/errors.js';
import { segmentPartition } from '../../src/extract/segments.js';
import { openPgClient } from '../../src/db/pg-client.js';
import { CLAIM_APPLICATION_NAME } from '../../src/load/run-claim.js';
import { migrate } from '../../src/pipeline/migrate.js';
import { prepareRun } from '../../src/pipeline/migrate-in-this-thread.js';
import { openConfiguredSource } from '../../src/reading/open-source.js';
import { runMigration, type RunResult } from '../../src/pipeline/run.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { missing } from '../support/prerequisites.js';
import { loadFixturesIntoDynamoDb } from '../support/dynamodb-fixtures.js';
import { pausedBeforeProof, sessionsBlockedBy } from '../support/paused-proof.js';
import { expectedOutcome } from '../support/fixtures.js';
import { rowsPerSourceEntity, targetRows } from '../support/target-rows.js';
import { accountingOf, expectBalanced, runStatus } from './harness.js';

/** Far beyond what any step here takes: a bound on a hang, not a measure of speed. */
const BOUND_MS = 60_000;

/** Polls `check` until it holds; fails naming `what` after BOUND_MS. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${BOUND_MS} ms: ${what}`);
    await sleep(20);
  }
}

// Two processes on one share need two sessions on one server: PGlite cannot host them.
describe.skipIf(missing('postgres-server'))('fencing: a process that lost its claim can never commit', () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.drop();
  });

  it(
    "worker 1/1's claim cut between its pg_locks check and its commit, the same command started again: the stale batch fails with RUN_CLAIM_LOST, and the run counts every record once",
    async () => {
      const { endpoint, prefix } = await loadFixturesIntoDynamoDb();
      const configFor = (db: TestDatabase) =>
        resolveConfig({
          env: {},
          overrides: { source: 'dynamodb', dynamodbEndpoint: endpoint, region: 'local', tablePrefix: prefix, segments: 2, pageLimit: 10, databaseUrl: db.url, batchRows: 20 },
        });
      const reference = await createTestDatabase();
      const shared = await createTestDatabase();
      databases.push(reference, shared);
      const uninterrupted = await migrate(configFor(reference), { workerThreads: false });
      expect(uninterrupted.status).toBe('completed');

      const config = configFor(shared);
      const runId = await prepareRun(config);
      const worker = { index: 1, count: 1 };
      const claimName = `${CLAIM_APPLICATION_NAME} run ${runId} worker 1/1`;
      const generation = async (): Promise<bigint> => {
        const { rows } = await shared.sql.query<{ generation: string }>(
          'select generation::text as generation from kpi_migrate.claim_generations where run_id = $1::bigint and share = 1',
          [runId],
        );
        return BigInt(rows[0]?.generation ?? 0);
      };

      // The first process: worker 1/1 of the run, as migrate() sets it up, on a client whose
      // second links batch stops before its proof.
      const paused = pausedBeforeProof(openPgClient(shared.url), 2);
      const source = await openConfiguredSource(config, { worker });
      const lookupSource = await openConfiguredSource(config);
      const first: Promise<RunResult | MigrateError> = runMigration({
        source,
        lookupSource,
        sql: paused.sql,
        sharedRun: { worker, allPartitions: () => [segmentPartition(0, 2), segmentPartition(1, 2)] },
        targetSchema: 'public',
        environment: config.environment,
        batchRows: config.batchRows,
        resume: runId,
        ledgerOptions: {},
        codeVersion: 'test',
        configHash: 'test',
      }).catch((error: unknown) => error as MigrateError);
      try {
        const stalePid = await Promise.race([
          paused.reached,
          first.then((outcome) => {
            throw new Error(`the first process ended before its second links batch: ${JSON.stringify(outcome)}`);
          }),
        ]);
        const staleGeneration = await generation();

        // Its claim's connection is cut: from now on another process may take the share over.
        const { rows } = await shared.sql.query<{ cut: boolean }>(
          `select pg_terminate_backend(pid, 10000) as cut from pg_stat_activity where datname = current_database() and application_name = $1`,
          [claimName],
        );
        expect(rows).toEqual([{ cut: true }]);

        // The second process (the same command, restarted) claims the share, which bumps its
        // generation, and waits: resuming the run updates the run's ledger row, which the paused
        // batch holds FOR SHARE. That lock already keeps today's runner from reading a checkpoint
        // before the stale commit lands; test/load/run-claim.db.test.ts shows the token alone
        // suffices for a writer that does not take it.
        const second = migrate(config, { resume: runId, worker, workerThreads: false }).catch((error: unknown) => error as MigrateError);
        await until('the second process claimed the share and waits for the paused batch', async () => {
          return (await generation()) > staleGeneration && (await sessionsBlockedBy(shared.sql, stalePid)) > 0;
        });
        expect(await generation()).toBe(staleGeneration + 1n);

        paused.release();
        const lost = await first;
        expect((lost as MigrateError).code, String(lost)).toBe('RUN_CLAIM_LOST');
        expect((lost as MigrateError).message).toMatch(
          new RegExp(`^the claim on worker 1/1 of run ${runId} was lost \\(another process has claimed it since: generation ${staleGeneration} of its claims is no longer the current one\\)`),
        );

        const done = await second;
        expect((done as RunResult).status, String(done)).toBe('completed');
        expect(await runStatus(shared.sql, runId)).toBe('completed');
        const accounting = await accountingOf(shared.sql, runId);
        expectBalanced(accounting);
        expect(accounting).toEqual(await accountingOf(reference.sql, uninterrupted.runId));
        for (const [entity, want] of Object.entries(expectedOutcome().tables)) expect({ entity, read: accounting[entity]?.read }).toEqual({ entity, read: want.read });
        expect(await targetRows(shared.sql)).toEqual(await targetRows(reference.sql));
        expect(await rowsPerSourceEntity(shared.sql)).toEqual(expectedOutcome().kpiDataRows);
      } finally {
        paused.release();
        await first;
        await paused.sql.close();
        await source.close();
        await lookupSource.close();
      }
    },
    180_000,
  );
});
