import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import yargs from 'yargs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rollbackCommand } from '../../src/cli/commands/rollback.js';
import { MigrateError } from '../../src/errors.js';
import { findRun } from '../../src/load/ledger.js';
import { planRollback, rollbackRun, type RunRollback } from '../../src/load/rollback.js';
import type { SqlSession } from '../../src/db/sql-client.js';
import type { RunResult } from '../../src/pipeline/run.js';
import { DATA_ENTITIES } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { missing } from '../support/prerequisites.js';
import { rejectKeys, targetRows } from '../support/target-rows.js';
import {
  CHANGED_VALUE,
  CHANGED_WEIGHT,
  FIXTURE_EXPORT,
  NEW_ACTUAL_ID,
  NEW_LINK_ID,
  applyChanges,
  chooseChanges,
  migrateExport,
  readExport,
  writeExport,
  type SourceChanges,
} from '../pipeline/changed-export.js';

async function scalar(sql: SqlSession, text: string, params: unknown[] = []): Promise<number> {
  const { rows } = await sql.query<{ n: string }>(text, params);
  return Number(rows[0]!.n);
}

/** Everything a rollback must not touch when it only plans, or refuses. */
async function everything(sql: SqlSession) {
  const ledger = await sql.query(
    `select (select jsonb_agg(r order by id) from kpi_migrate.runs r)::text as runs,
            (select count(*) from kpi_migrate.row_history)::text as history,
            (select count(*) from kpi_migrate.rejects)::text as rejects`,
  );
  const bookkeeping = await sql.query(
    `select (select jsonb_agg(jsonb_build_array(id, first_run_id, last_run_id) order by id) from public.kpi_links)::text as links,
            (select jsonb_agg(jsonb_build_array(id, first_run_id, last_run_id) order by id) from public.kpi_data)::text as data`,
  );
  return { rows: await targetRows(sql), ledger: ledger.rows[0], bookkeeping: bookkeeping.rows[0] };
}

/** What undoing a run must do, from the ledger and the target: its inserts go, its earlier images come back. */
async function expectedUndo(sql: SqlSession, runId: string): Promise<Pick<RunRollback, 'kpiData' | 'kpiLinks'>> {
  const inserted = (table: string) => scalar(sql, `select count(*)::text as n from public.${table} where first_run_id = $1`, [runId]);
  const imaged = (table: string) =>
    scalar(sql, `select count(distinct row_id)::text as n from kpi_migrate.row_history where run_id = $1 and table_name = $2`, [runId, table]);
  return {
    kpiData: { delete: await inserted('kpi_data'), restore: await imaged('kpi_data') },
    kpiLinks: { delete: await inserted('kpi_links'), restore: await imaged('kpi_links') },
  };
}

function refusal(error: unknown): { code: string; message: string } {
  expect(error).toBeInstanceOf(MigrateError);
  return { code: (error as MigrateError).code, message: (error as MigrateError).message };
}

describe('rollback', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const database = async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    return db;
  };

  let changedExport: string;
  beforeAll(async () => {
    changedExport = await mkdtemp(path.join(tmpdir(), 'kpi-migrate-rollback-'));
    cleanups.push(() => rm(changedExport, { recursive: true, force: true }));
  });

  describe('of a first run', () => {
    let db: TestDatabase;
    let first: RunResult;
    let firstRows: Awaited<ReturnType<typeof targetRows>>;
    beforeAll(async () => {
      db = await database();
      first = await migrateExport(db, FIXTURE_EXPORT);
      firstRows = await targetRows(db.sql);
    });

    it('plans the delete of every row the run inserted and changes nothing', async () => {
      const before = await everything(db.sql);
      const plan = await planRollback(db.sql, { runId: first.runId, schema: 'public' });
      const c = first.counts.entities;
      const dataInserted = DATA_ENTITIES.reduce((sum, e) => sum + c[e]!.inserted, 0);
      expect(plan).toEqual({
        runId: first.runId,
        schema: 'public',
        runs: [{ runId: first.runId, statusBefore: 'completed', kpiData: { delete: dataInserted, restore: 0 }, kpiLinks: { delete: c.GoalKpiLink!.inserted, restore: 0 } }],
        blockingRuns: [],
      });
      expect(dataInserted).toBe(firstRows.data.length);
      expect(c.GoalKpiLink!.inserted).toBe(firstRows.links.length);
      expect(await everything(db.sql)).toEqual(before);
    });

    it('is not blocked by a later run that changed nothing, and leaves empty target tables; the rejects stay', async () => {
      const rerun = await migrateExport(db, FIXTURE_EXPORT);
      expect(rerun.counts.entities.KpiActual).toMatchObject({ inserted: 0, updated: 0, deleted: 0 });
      const rejectsBefore = await rejectKeys(db.sql, first.runId);
      expect(rejectsBefore.length).toBeGreaterThan(0);

      const result = await rollbackRun(db.sql, { runId: first.runId, schema: 'public', confirm: true });
      expect(result.runs).toEqual([
        { runId: first.runId, statusBefore: 'completed', kpiData: { delete: firstRows.data.length, restore: 0 }, kpiLinks: { delete: firstRows.links.length, restore: 0 } },
      ]);
      expect(await targetRows(db.sql)).toEqual({ links: [], data: [] });
      expect((await findRun(db.sql, first.runId))?.status).toBe('rolled_back');
      expect((await findRun(db.sql, rerun.runId))?.status).toBe('completed');
      expect(await rejectKeys(db.sql, first.runId)).toEqual(rejectsBefore);
    });

    it('refuses a run that is already rolled back, and a run that does not exist', async () => {
      expect(refusal(await rollbackRun(db.sql, { runId: first.runId, schema: 'public', confirm: true }).catch((e: unknown) => e))).toEqual({
        code: 'RUN_STATE',
        message: `run ${first.runId} is already rolled back`,
      });
      expect(refusal(await planRollback(db.sql, { runId: '999999', schema: 'public' }).catch((e: unknown) => e)).code).toBe('RUN_NOT_FOUND');
      expect(refusal(await planRollback(db.sql, { runId: 'x; drop', schema: 'public' }).catch((e: unknown) => e)).code).toBe('RUN_NOT_FOUND');
    });

    it('after the rollback, the next run inserts every row again, the same rows', async () => {
      const again = await migrateExport(db, FIXTURE_EXPORT);
      expect(again.counts.entities.GoalKpiLink).toMatchObject({ inserted: firstRows.links.length, updated: 0 });
      expect(await targetRows(db.sql)).toEqual(firstRows);
    });
  });

  describe('of a second run that changed rows', () => {
    let db: TestDatabase;
    let first: RunResult;
    let second: RunResult;
    let changes: SourceChanges;
    let afterFirst: Awaited<ReturnType<typeof targetRows>>;
    let afterSecond: Awaited<ReturnType<typeof targetRows>>;
    beforeAll(async () => {
      db = await database();
      first = await migrateExport(db, FIXTURE_EXPORT);
      afterFirst = await targetRows(db.sql);
      changes = await chooseChanges(db.sql);
      const dir = path.join(changedExport, 'second');
      await writeExport(dir, applyChanges(await readExport(FIXTURE_EXPORT), changes));
      second = await migrateExport(db, dir);
      afterSecond = await targetRows(db.sql);
    });

    it('the second run really changed, added and removed rows', async () => {
      const c = second.counts.entities;
      expect(c.GoalKpiLink).toMatchObject({ inserted: 1, updated: 1, read: first.counts.entities.GoalKpiLink!.read });
      expect(c.KpiActual!.updated).toBeGreaterThanOrEqual(3);
      expect(c.KpiActual!.inserted).toBeGreaterThanOrEqual(1);
      expect(DATA_ENTITIES.reduce((sum, e) => sum + c[e]!.deleted, 0)).toBeGreaterThan(0);
      const value = await db.sql.query<{ v: string }>(`select post_value::text as v from public.kpi_data where id = $1`, [changes.revaluedActuals[0]!.toLowerCase().replace(/[{}]/g, '')]);
      expect(value.rows[0]?.v).toBe(CHANGED_VALUE);
      const weight = await db.sql.query<{ w: string }>(`select weight::text as w from public.kpi_links where source_id = $1`, [changes.reweightedLink]);
      expect(weight.rows[0]?.w).toBe(CHANGED_WEIGHT);
      expect(await scalar(db.sql, `select count(*)::text as n from public.kpi_data where kpi_link_id = $1`, [NEW_LINK_ID])).toBeGreaterThan(0);
      expect(await scalar(db.sql, `select count(*)::text as n from public.kpi_data where source_id = $1`, [NEW_ACTUAL_ID])).toBeGreaterThan(0);
      const { rows: operations } = await db.sql.query<{ op: string }>(
        `select distinct table_name || ' ' || operation as op from kpi_migrate.row_history where run_id = $1 order by 1`,
        [second.runId],
      );
      expect(operations.map((o) => o.op)).toEqual(['kpi_data delete', 'kpi_data update', 'kpi_links update']);
      expect(afterSecond).not.toEqual(afterFirst);
    });

    it('refuses to roll back the first run alone while the second built on it, and changes nothing', async () => {
      const before = await everything(db.sql);
      const plan = await planRollback(db.sql, { runId: first.runId, schema: 'public' });
      expect(plan.blockingRuns.map((b) => ({ runId: b.runId, status: b.status, builtOn: b.builtOn }))).toEqual([
        { runId: second.runId, status: 'completed', builtOn: first.runId },
      ]);
      expect(plan.blockingRuns[0]!.reasons).toEqual(
        expect.arrayContaining([expect.stringMatching(/^updated or removed \d+ kpi_data row\(s\) it wrote$/), expect.stringMatching(/^updated or removed 1 kpi_links row\(s\) it wrote$/)]),
      );
      const refused = refusal(await rollbackRun(db.sql, { runId: first.runId, schema: 'public', confirm: true }).catch((e: unknown) => e));
      expect(refused.code).toBe('RUN_STATE');
      expect(refused.message).toContain(`run ${second.runId} (completed) built on run ${first.runId}`);
      expect(refused.message).toContain(`--also ${second.runId}`);
      expect(await everything(db.sql)).toEqual(before);
    });

    it('a dry rollback of the second run plans from row_history and first_run_id, and changes nothing', async () => {
      const before = await everything(db.sql);
      const plan = await planRollback(db.sql, { runId: second.runId, schema: 'public' });
      const c = second.counts.entities;
      const sum = (field: 'inserted' | 'updated' | 'deleted') => DATA_ENTITIES.reduce((total, e) => total + c[e]![field], 0);
      expect(plan).toEqual({
        runId: second.runId,
        schema: 'public',
        runs: [{ runId: second.runId, statusBefore: 'completed', ...(await expectedUndo(db.sql, second.runId)) }],
        blockingRuns: [],
      });
      // Each row was written at most once by the run: the plan is the run's own accounting.
      expect(plan.runs[0]).toMatchObject({
        kpiData: { delete: sum('inserted'), restore: sum('updated') + sum('deleted') },
        kpiLinks: { delete: c.GoalKpiLink!.inserted, restore: c.GoalKpiLink!.updated },
      });
      expect(await everything(db.sql)).toEqual(before);
    });

    it('rolling back the second run restores the first run’s rows exactly; its rejects stay', async () => {
      const planned = await planRollback(db.sql, { runId: second.runId, schema: 'public' });
      const rejects = await rejectKeys(db.sql, second.runId);
      const result = await rollbackRun(db.sql, { runId: second.runId, schema: 'public', confirm: true });
      expect(result.runs).toEqual(planned.runs);
      expect(await targetRows(db.sql)).toEqual(afterFirst);
      // The run bookkeeping too: every row is again as the first run left it.
      expect(await scalar(db.sql, `select count(*)::text as n from public.kpi_data where first_run_id <> $1 or last_run_id <> $1`, [first.runId])).toBe(0);
      expect(await scalar(db.sql, `select count(*)::text as n from public.kpi_links where first_run_id <> $1 or last_run_id <> $1`, [first.runId])).toBe(0);
      expect((await findRun(db.sql, second.runId))?.status).toBe('rolled_back');
      expect(await rejectKeys(db.sql, second.runId)).toEqual(rejects);
    });

    it('then the first run is no longer blocked: its rollback leaves empty tables', async () => {
      const plan = await planRollback(db.sql, { runId: first.runId, schema: 'public' });
      expect(plan.blockingRuns).toEqual([]);
      await rollbackRun(db.sql, { runId: first.runId, schema: 'public', confirm: true });
      expect(await targetRows(db.sql)).toEqual({ links: [], data: [] });
    });
  });

  describe('with alsoRuns', () => {
    let db: TestDatabase;
    let first: RunResult;
    let second: RunResult;
    beforeAll(async () => {
      db = await database();
      first = await migrateExport(db, FIXTURE_EXPORT);
      const dir = path.join(changedExport, 'also');
      await writeExport(dir, applyChanges(await readExport(FIXTURE_EXPORT), await chooseChanges(db.sql)));
      second = await migrateExport(db, dir);
      expect(second.counts.entities.GoalKpiLink!.inserted).toBe(1);
    });

    it('plans both, newest first, with the figures of undoing them in turn, and changes nothing', async () => {
      const before = await everything(db.sql);
      const secondUndo = await expectedUndo(db.sql, second.runId);
      const plan = await planRollback(db.sql, { runId: first.runId, schema: 'public', alsoRuns: [second.runId] });
      expect(plan.blockingRuns).toEqual([]);
      expect(plan.runs.map((r) => r.runId)).toEqual([second.runId, first.runId]);
      expect(plan.runs[0]).toEqual({ runId: second.runId, statusBefore: 'completed', ...secondUndo });
      // Once the second run is undone, the first run's rows are exactly those it inserted.
      const c = first.counts.entities;
      expect(plan.runs[1]).toEqual({
        runId: first.runId,
        statusBefore: 'completed',
        kpiData: { delete: DATA_ENTITIES.reduce((sum, e) => sum + c[e]!.inserted, 0), restore: 0 },
        kpiLinks: { delete: c.GoalKpiLink!.inserted, restore: 0 },
      });
      expect(await everything(db.sql)).toEqual(before);
    });

    it('refuses a schema the run did not write to', async () => {
      const refused = refusal(await planRollback(db.sql, { runId: first.runId, schema: 'elsewhere', alsoRuns: [second.runId] }).catch((e: unknown) => e));
      expect(refused).toEqual({ code: 'RUN_STATE', message: `run ${first.runId} wrote to schema public, not elsewhere\nrun ${second.runId} wrote to schema public, not elsewhere` });
    });

    it('rolls both back in one go: empty tables, both runs rolled_back', async () => {
      const result = await rollbackRun(db.sql, { runId: first.runId, schema: 'public', alsoRuns: [second.runId], confirm: true });
      expect(result.runs.map((r) => r.runId)).toEqual([second.runId, first.runId]);
      expect(await targetRows(db.sql)).toEqual({ links: [], data: [] });
      expect((await findRun(db.sql, first.runId))?.status).toBe('rolled_back');
      expect((await findRun(db.sql, second.runId))?.status).toBe('rolled_back');
    });
  });

  // The command opens the target by URL: an in-memory PGlite of the test cannot be reached that way.
  describe.skipIf(missing('postgres-server'))('as a command', () => {
    let db: TestDatabase;
    let first: RunResult;
    let second: RunResult;
    beforeAll(async () => {
      db = await database();
      first = await migrateExport(db, FIXTURE_EXPORT);
      const dir = path.join(changedExport, 'command');
      await writeExport(dir, applyChanges(await readExport(FIXTURE_EXPORT), await chooseChanges(db.sql)));
      second = await migrateExport(db, dir);
    });
    afterEach(() => {
      process.exitCode = undefined;
    });

    async function rollbackCli(...args: string[]): Promise<string> {
      const printed: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = ((chunk: string) => printed.push(String(chunk)) > 0) as typeof process.stdout.write;
      try {
        await yargs(['rollback', '--database-url', db.url, ...args])
          .command(rollbackCommand as never)
          .strict()
          .fail((message, error) => {
            throw error ?? new Error(message);
          })
          .parseAsync();
      } finally {
        process.stdout.write = write;
      }
      return printed.join('');
    }

    it('without --confirm prints the plan, refuses (exit code 2) while a later run built on it, and changes nothing', async () => {
      const before = await everything(db.sql);
      const printed = await rollbackCli('--run', first.runId);
      expect(printed).toContain(`rollback plan for run ${first.runId} in schema public (nothing changed):`);
      expect(printed).toContain(`refused: later runs built on these rows:\n  run ${second.runId} (completed) on run ${first.runId}: updated or removed`);
      expect(printed).toContain(`--also ${second.runId}`);
      expect(process.exitCode).toBe(2);
      expect(await everything(db.sql)).toEqual(before);
    });

    it('--also and --confirm roll both runs back', async () => {
      const plan = await rollbackCli('--run', first.runId, '--also', second.runId);
      expect(process.exitCode).toBeUndefined();
      expect(plan).toContain('run again with --confirm to roll back');
      const done = await rollbackCli('--run', first.runId, '--also', second.runId, '--confirm');
      expect(done.split('\n').slice(0, 3)).toEqual([
        'rolled back in schema public:',
        expect.stringMatching(new RegExp(`^  run ${second.runId} \\(was completed\\): kpi_data \\d+ deleted, \\d+ restored; kpi_links 1 deleted, 1 restored$`)),
        `  run ${first.runId} (was completed): kpi_data ${first.counts.entities.KpiMilestone!.inserted + first.counts.entities.KpiActual!.inserted + first.counts.entities.KpiReading!.inserted} deleted, 0 restored; kpi_links ${first.counts.entities.GoalKpiLink!.inserted} deleted, 0 restored`,
      ]);
      expect(await targetRows(db.sql)).toEqual({ links: [], data: [] });
    });
  });
});
