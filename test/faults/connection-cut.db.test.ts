import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATED_ENTITIES } from '../../src/model/entities.js';
import { hashSeed, mulberry32 } from '../../src/seed/prng.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { describeOutcome, runCli, startCli } from '../support/child-cli.js';
import {
  expectBalanced,
  expectRowsMatchCommittedCounts,
  exportRunArgs,
  resumeToCompletion,
  runIds,
  runStatus,
  seedManyFiles,
  snapshot,
  temporaryDirectory,
  type TargetSnapshot,
} from './harness.js';
import { missing } from '../support/prerequisites.js';

const skipReason = missing('postgres-server');
if (skipReason) console.warn(`skipping the connection-cut tests: ${skipReason}`);

/**
 * A connection of its own (not the tool's application_name), so that terminating the tool's
 * backends never cuts the observer, and the test database's own pool stays unopened meanwhile.
 */
async function observer(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'kpi-migrate-fault-injector' });
  await client.connect();
  return client;
}

async function committedReadsVia(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `select coalesce(sum(read), 0)::text as n from kpi_migrate.run_counts where entity = any($1::text[])`,
    [MIGRATED_ENTITIES],
  );
  return Number(rows[0]!.n);
}

describe.skipIf(skipReason !== undefined)('the PostgreSQL connection cut while a run loads', () => {
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  let reference: TargetSnapshot;
  let referenceReads: number;

  beforeAll(async () => {
    data = await temporaryDirectory('cut');
    await seedManyFiles(data.dir, { items: 2000, seed: 777, itemsPerFile: 100 });
    const db = await createTestDatabase();
    try {
      const clean = await runCli(exportRunArgs(data.dir, db.url));
      expect(clean.code, describeOutcome(clean)).toBe(0);
      reference = await snapshot(db.sql, (await runIds(db.sql))[0]!);
      referenceReads = MIGRATED_ENTITIES.reduce((sum, entity) => sum + reference.accounting[entity]!.read, 0);
    } finally {
      await db.drop();
    }
  });

  afterAll(async () => {
    await data?.remove();
  });

  for (const round of [1, 2, 3]) {
    it(`round ${round}: pg_terminate_backend at a seeded point → retried, or exit 3 naming the cut; resume → same rows and accounting as a clean run`, async () => {
      const rng = mulberry32(hashSeed('connection-cut', round));
      const db: TestDatabase = await createTestDatabase();
      const watcher = await observer(db.url);
      try {
        const args = exportRunArgs(data.dir, db.url);
        const child = startCli(args);
        const threshold = Math.max(1, Math.floor((0.1 + rng.next() * 0.7) * referenceReads));
        let terminated = 0;
        while (child.running()) {
          if ((await committedReadsVia(watcher)) >= threshold) {
            const { rows } = await watcher.query<{ cut: boolean }>(
              `select pg_terminate_backend(pid) as cut from pg_stat_activity
                where application_name = 'kpi-migrate' and datname = current_database() and pid <> pg_backend_pid()`,
            );
            terminated += rows.filter((r) => r.cut).length;
          }
          await sleep(5);
        }
        const outcome = await child.exited;
        await watcher.end();
        const runId = (await runIds(db.sql))[0]!;
        expect(terminated, 'backends of the tool were terminated').toBeGreaterThan(0);
        if (outcome.code !== 0) {
          expect(outcome.code, describeOutcome(outcome)).toBe(3);
          expect(outcome.stderr).toMatch(/kpi-migrate: TARGET_UNAVAILABLE: .*(terminat|ECONNRESET|EPIPE)/i);
          // What was committed before the cut is whole batches, and the run can be resumed.
          expect(['failed', 'running']).toContain(await runStatus(db.sql, runId));
          await expectRowsMatchCommittedCounts(db.sql, runId);
          await resumeToCompletion(args, runId);
        }
        expect(await runStatus(db.sql, runId)).toBe('completed');
        const after = await snapshot(db.sql, runId);
        expectBalanced(after.accounting);
        expect(after.accounting).toEqual(reference.accounting);
        expect(after.rejects).toEqual(reference.rejects);
        expect(after.rows).toEqual(reference.rows);
        console.info(`connection cut round ${round}: ${terminated} backend(s) terminated after ${threshold} records; child ${outcome.code === 0 ? 'retried and completed' : 'exited 3, resumed'}`);
      } finally {
        await watcher.end().catch(() => {});
        await db.drop();
      }
    });
  }
});
