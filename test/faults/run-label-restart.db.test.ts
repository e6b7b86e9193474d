import { missing } from '../support/prerequisites.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_CLAIM_CLASS } from '../../src/load/run-claim.js';
import type { SqlSession } from '../../src/db/sql-client.js';
import { MIGRATED_ENTITIES } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { describeOutcome, runCli, startCli, type CliOutcome, type CliProcess } from '../support/child-cli.js';
import {
  committedReads,
  expectBalanced,
  exportRunArgs,
  pollUntil,
  runIds,
  seedManyFiles,
  snapshot,
  temporaryDirectory,
  type TargetSnapshot,
} from './harness.js';

const skipReason = missing('postgres-server');
if (skipReason) console.warn(`skipping the run --run LABEL restarts: ${skipReason}`);

const LABEL = 'june-cutover';

/** What the ledger holds of runs, their checkpoints and reports; null before the ledger exists. */
async function ledgerState(sql: SqlSession) {
  const { rows } = await sql.query<{ ledger: boolean }>(`select to_regclass('kpi_migrate.runs') is not null as ledger`);
  if (!rows[0]!.ledger) return null;
  const state = await sql.query<{ runs: string; labelled: string | null; status: string | null; finished_at: string | null; checkpoints: string; reports: string; row_history: string }>(
    `select (select count(*) from kpi_migrate.runs)::text as runs,
            (select id::text from kpi_migrate.runs where label = $1) as labelled,
            (select status from kpi_migrate.runs where label = $1) as status,
            (select finished_at::text from kpi_migrate.runs where label = $1) as finished_at,
            (select count(*) from kpi_migrate.checkpoints)::text as checkpoints,
            (select count(*) from kpi_migrate.reports)::text as reports,
            (select count(*) from kpi_migrate.row_history)::text as row_history`,
    [LABEL],
  );
  return state.rows[0]!;
}

async function claimHeld(sql: SqlSession): Promise<boolean> {
  const { rows } = await sql.query<{ held: boolean }>(
    `select exists (select from pg_locks where locktype = 'advisory' and classid = $1::oid and granted) as held`,
    [RUN_CLAIM_CLASS],
  );
  return rows[0]!.held;
}

/** Until the backend of a killed process has gone, its claim still shows in pg_locks. */
async function claimGone(sql: SqlSession): Promise<void> {
  await pollUntil(async () => ((await claimHeld(sql)) ? undefined : true), () => true);
}

/** Polls until `reached` holds, then SIGKILLs the child; undefined when the child ended first. */
async function killWhen(child: CliProcess, reached: () => Promise<boolean>): Promise<CliOutcome | undefined> {
  const hit = await pollUntil(async () => ((await reached()) ? true : undefined), child.running, 2);
  if (!hit) return undefined;
  const outcome = await child.kill('SIGKILL');
  return outcome.signal === 'SIGKILL' ? outcome : undefined;
}

describe.skipIf(skipReason !== undefined)('run --run LABEL: one command that starts or continues', () => {
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  let reference: TargetSnapshot;
  let referenceReads: number;
  let db: TestDatabase;
  let args: string[];

  beforeAll(async () => {
    data = await temporaryDirectory('run-label');
    await seedManyFiles(data.dir, { items: 1500, seed: 777, itemsPerFile: 100 });
    const clean = await createTestDatabase();
    try {
      const outcome = await runCli(exportRunArgs(data.dir, clean.url, '--no-validate'));
      expect(outcome.code, describeOutcome(outcome)).toBe(0);
      reference = await snapshot(clean.sql, (await runIds(clean.sql))[0]!);
      referenceReads = MIGRATED_ENTITIES.reduce((sum, entity) => sum + reference.accounting[entity]!.read, 0);
    } finally {
      await clean.drop();
    }
    db = await createTestDatabase();
    args = exportRunArgs(data.dir, db.url, '--run', LABEL);
  }, 300_000);

  afterAll(async () => {
    await db?.drop();
    await data?.remove();
  });

  it(
    'SIGKILLed before the run is recorded, just after, during its lookups, mid-load and while validating: the same command continues it to the rows of a clean run, then does nothing',
    async () => {
      const kills: string[] = [];

      // 1. Before the run is recorded: the process has not even reached the target.
      const early = startCli(args);
      const first = await early.kill('SIGKILL');
      if (first.signal === 'SIGKILL') {
        const state = await ledgerState(db.sql);
        expect(state?.labelled ?? null, 'killed at once: no run recorded yet').toBeNull();
        kills.push('before the run was recorded');
      }

      // 2. As soon as the labelled run is in the ledger (before or just after its claim).
      const recorded = await killWhen(startCli(args), async () => (await ledgerState(db.sql))?.labelled != null);
      if (recorded) {
        expect((await ledgerState(db.sql))!.status).toBe('running');
        kills.push('the run just recorded');
      }

      await claimGone(db.sql);
      // 3. Claimed, reading its lookups and links: no batch committed yet.
      const lookups = await killWhen(startCli(args), async () => (await claimHeld(db.sql)) && (await committedReads(db.sql)) === 0);
      if (lookups) {
        const state = (await ledgerState(db.sql))!;
        if (state.checkpoints === '0') kills.push('during its lookups (no batch committed)');
        expect(state.status).toBe('running');
      }

      await claimGone(db.sql);
      // 4. Mid-load.
      const threshold = Math.floor(referenceReads / 2);
      const midLoad = await killWhen(startCli(args), async () => (await committedReads(db.sql)) >= threshold);
      if (midLoad) {
        const state = (await ledgerState(db.sql))!;
        expect(state.status).toBe('running');
        expect(Number(state.checkpoints)).toBeGreaterThan(0);
        kills.push(`mid-load (${await committedReads(db.sql)} of ${referenceReads} records committed)`);
      }

      await claimGone(db.sql);
      // 5. The run completed, its validation under way (its report not kept yet).
      const validating = await killWhen(startCli(args), async () => (await ledgerState(db.sql))?.status === 'completed');
      const afterValidationKill = (await ledgerState(db.sql))!;
      if (validating && afterValidationKill.reports === '0') kills.push('while validating the completed run');

      // 6. The same command once more: whatever is left (at least the validation and the report).
      const finished = await runCli(args);
      expect(finished.code, describeOutcome(finished)).toBe(0);
      const done = (await ledgerState(db.sql))!;
      expect(done).toMatchObject({ runs: '1', status: 'completed' });
      const runId = done.labelled!;
      const result = await snapshot(db.sql, runId);
      expectBalanced(result.accounting);
      expect(result.accounting).toEqual(reference.accounting);
      expect(result.rejects).toEqual(reference.rejects);
      expect(result.rows.links).toEqual(reference.rows.links);
      expect(result.rows.data).toEqual(reference.rows.data);

      // 7. And again, after completion: exit 0, nothing done (no run, report, row or history more).
      const again = await runCli(args);
      expect(again.code, describeOutcome(again)).toBe(0);
      expect(again.stderr).toMatch(new RegExp(`run ${runId} \\(${LABEL}\\) is already completed: nothing left to do`));
      expect(again.stderr).toContain(`run ${runId} was already completed: nothing done`);
      expect(await ledgerState(db.sql)).toEqual(done);
      expect(await snapshot(db.sql, runId)).toEqual(result);

      console.info(`run --run ${LABEL} killed: ${kills.join('; ')}`);
      // Moments 1, 3 and 4 are reached on any machine; 2 and 5 when the polling is quick enough.
      expect(kills).toEqual(expect.arrayContaining(['before the run was recorded', 'during its lookups (no batch committed)']));
      expect(kills.some((kill) => kill.startsWith('mid-load'))).toBe(true);
    },
    600_000,
  );

  it('refuses to continue the run with another configuration, and says what differs', async () => {
    const before = await ledgerState(db.sql);
    const other = await runCli([...args, '--tenant', 'someone-else']);
    expect(other.code, describeOutcome(other)).toBe(2);
    expect(other.stderr).toMatch(/RUN_STATE: cannot continue run \d+ \(june-cutover\): continuing a run needs the configuration it was started with/);
    expect(other.stderr).toMatch(/tenant: the run has null, this process "someone-else"/);
    expect(await ledgerState(db.sql)).toEqual(before);
  });

  it('validate, report, rejects and rollback take --run LABEL as they take the id', async () => {
    const runId = (await ledgerState(db.sql))!.labelled!;
    const target = ['--database-url', db.url];
    const source = ['--source', 'export', '--export-dir', data.dir];

    const byLabel = await runCli(['rejects', ...target, '--run', LABEL, '--json', '--limit', '10000']);
    const byId = await runCli(['rejects', ...target, '--run', runId, '--json', '--limit', '10000']);
    expect(byLabel.code, describeOutcome(byLabel)).toBe(0);
    expect(byLabel.stdout).toBe(byId.stdout);
    expect(byLabel.stdout.trim().split('\n')).toHaveLength(reference.rejects.length);

    const report = await runCli(['report', ...target, '--run', LABEL, '--kind', 'run', '--format', 'json']);
    expect(report.code, describeOutcome(report)).toBe(0);
    expect(JSON.parse(report.stdout)).toMatchObject({ kind: 'run', runId, outcome: 'passed' });

    const validation = await runCli(['validate', ...target, ...source, '--run', LABEL, '--format', 'json']);
    expect(validation.code, describeOutcome(validation)).toBe(0);
    expect(JSON.parse(validation.stdout)).toMatchObject({ kind: 'validate', runId, outcome: 'passed' });

    const plan = await runCli(['rollback', ...target, '--run', LABEL]);
    expect(plan.code, describeOutcome(plan)).toBe(0);
    expect(plan.stdout).toContain(`rollback plan for run ${runId} in schema public (nothing changed)`);

    const unknown = await runCli(['rejects', ...target, '--run', 'no-such-label']);
    expect(unknown.code, describeOutcome(unknown)).toBe(2);
    expect(unknown.stderr).toMatch(/RUN_NOT_FOUND: no run is labelled no-such-label/);
  });
});
