import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { describeOutcome, runCli, startCli } from '../support/child-cli.js';
import {
  checkpointsOf,
  expectBalanced,
  expectRowsMatchCommittedCounts,
  exportRunArgs,
  pollUntil,
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
if (skipReason) console.warn(`skipping the schema-change test: ${skipReason}`);

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'kpi-migrate-fault-injector' });
  await client.connect();
  return client;
}

describe.skipIf(skipReason !== undefined)('the target schema changed under a running migration', () => {
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  let reference: TargetSnapshot;

  beforeAll(async () => {
    data = await temporaryDirectory('schema');
    await seedManyFiles(data.dir, { items: 1000, seed: 5150, itemsPerFile: 100 });
    const db = await createTestDatabase();
    try {
      const clean = await runCli(exportRunArgs(data.dir, db.url));
      expect(clean.code, describeOutcome(clean)).toBe(0);
      reference = await snapshot(db.sql, (await runIds(db.sql))[0]!);
    } finally {
      await db.drop();
    }
  });

  afterAll(async () => {
    await data?.remove();
  });

  it('kpi_data.label dropped after the links loaded, before the first data batch: exit 3 naming the column, no partial batch; restored, the resume ends as a clean run', async () => {
    const db: TestDatabase = await createTestDatabase();
    const locker = await connect(db.url);
    const watcher = await connect(db.url);
    try {
      // Holding kpi_data locked stops the tool at its first statement on that table, so the
      // column goes away at a known point: links committed, no data batch begun.
      await locker.query('begin');
      await locker.query('lock table public.kpi_data in access exclusive mode');
      const args = exportRunArgs(data.dir, db.url);
      const child = startCli(args);
      const blocked = await pollUntil(async () => {
        const { rows } = await watcher.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
            where datname = current_database() and application_name = 'kpi-migrate' and wait_event_type = 'Lock'`,
        );
        return rows[0]!.n > 0 ? true : undefined;
      }, child.running);
      expect(blocked, 'the tool reached kpi_data').toBe(true);
      const { rows: linkReads } = await watcher.query<{ read: number }>(
        `select read::int as read from kpi_migrate.run_counts where entity = 'GoalKpiLink'`,
      );
      expect(linkReads[0]?.read, 'the links were committed before').toBe(reference.accounting.GoalKpiLink!.read);
      await locker.query('alter table public.kpi_data drop column label');
      await locker.query('commit');

      const failed = await child.exited;
      expect(failed.code, describeOutcome(failed)).toBe(3);
      expect(failed.stderr).toMatch(/kpi-migrate: TARGET_SCHEMA: writing a KpiMilestone batch of run \d+: column "label"( of relation "kpi_data")? does not exist/);
      const runId = (await runIds(db.sql))[0]!;
      expect(await runStatus(db.sql, runId)).toBe('failed');
      // Nothing of the refused batch: no data rows, no data counts, no data checkpoints.
      await expectRowsMatchCommittedCounts(db.sql, runId);
      const { rows: dataRows } = await db.sql.query<{ n: number }>('select count(*)::int as n from public.kpi_data');
      expect(dataRows[0]!.n).toBe(0);
      expect((await checkpointsOf(db.sql, runId, 'KpiMilestone')).size).toBe(0);
      const { rows: links } = await db.sql.query<{ n: number }>('select count(*)::int as n from public.kpi_links');
      expect(links[0]!.n).toBe(reference.rows.links.length);

      // A resume against the still-changed schema is refused the same way, and changes nothing.
      const again = await runCli([...args, '--resume', runId]);
      expect(again.code, describeOutcome(again)).toBe(3);
      expect(again.stderr).toMatch(/TARGET_SCHEMA: .*column "label"( of relation "kpi_data")? does not exist/);
      await expectRowsMatchCommittedCounts(db.sql, runId);

      await db.sql.query('alter table public.kpi_data add column label text');
      await resumeToCompletion(args, runId);
      const after = await snapshot(db.sql, runId);
      expectBalanced(after.accounting);
      expect(after.accounting).toEqual(reference.accounting);
      expect(after.rejects).toEqual(reference.rejects);
      expect(after.rows).toEqual(reference.rows);
    } finally {
      await locker.end().catch(() => {});
      await watcher.end().catch(() => {});
      await db.drop();
    }
  });
});
