import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigrateError } from '../../src/errors.js';
import { CLAIM_APPLICATION_NAME, claimRun, guardedByClaim, proveClaim, type RunClaim, type RunShare } from '../../src/load/run-claim.js';
import { writeBatch } from '../../src/load/batch-writer.js';
import { findRun, loadCheckpoints } from '../../src/load/ledger.js';
import { rollbackRun } from '../../src/load/rollback.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { pausedBeforeProof, sessionsBlockedBy } from '../support/paused-proof.js';
import { count, linkBatch, linkRecord, newRun } from './fixtures.js';
import { missing } from '../support/prerequisites.js';

describe('run claims (advisory locks held on a connection of their own)', () => {
  let db: TestDatabase;
  const held: RunClaim[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.sql.exec('create table claim_probe (n int not null)');
    // A claim takes a generation in the ledger, so the runs claimed here must exist.
    await db.sql.query(
      `insert into kpi_migrate.runs (id, source_kind, target_schema, code_version, config_hash)
       overriding system value select id, 'export', 'public', 'test', 'test' from unnest($1::bigint[]) as id`,
      [[40, 41, 42, 51, 52, 61, 70, 71, 72]],
    );
  });

  afterAll(async () => {
    for (const claim of held) await claim.release();
    await db?.drop();
  });

  const claim = async (share: RunShare): Promise<RunClaim> => {
    const taken = await claimRun(db.sql, share);
    held.push(taken);
    return taken;
  };
  const refusal = (share: RunShare): Promise<MigrateError> =>
    claimRun(db.sql, share).then(
      (unexpected) => {
        held.push(unexpected);
        throw new Error(`${unexpected.description} was claimed twice`);
      },
      (error: unknown) => error as MigrateError,
    );
  const probeRows = async (): Promise<number> => (await db.sql.query<{ n: number }>('select count(*)::int as n from claim_probe')).rows[0]!.n;
  const lostError = (pending: Promise<unknown>): Promise<MigrateError | undefined> =>
    pending.then(
      () => undefined,
      (error: unknown) => error as MigrateError,
    );

  // Runs on PGlite too: there the claim is held in its one session, and the same checks pass.
  it('a transaction under a held claim commits, and released claims can be taken again', async () => {
    const taken = await claim({ runId: '40' });
    const guarded = guardedByClaim(db.sql, taken);
    await guarded.transaction((tx) => tx.query('insert into claim_probe values (1)'));
    expect(await probeRows()).toBe(1);
    await taken.release();
    await (await claim({ runId: '40' })).release();
  });

  it('a run that does not exist cannot be claimed', async () => {
    const refused = await lostError(claim({ runId: '987654' }));
    expect(refused?.code).toBe('RUN_NOT_FOUND');
    expect(refused?.message).toBe('run 987654 does not exist');
  });

  it('each claim takes a newer generation: a share claimed again since fences the old claim off, whose transactions roll back whole', async () => {
    const first = await claim({ runId: '70' });
    await first.release();
    const second = await claim({ runId: '70' });
    expect(BigInt(second.token.generation)).toBe(BigInt(first.token.generation) + 1n);
    expect(second.token).toMatchObject({ runId: '70', share: 0 });
    const before = await probeRows();
    // The released claim stands for a process that lost its claim and does not know it yet: its
    // transaction proves its token, which the second claim has made stale.
    const fenced = await lostError(db.sql.transaction(async (tx) => {
      await tx.query('insert into claim_probe values (4)');
      await proveClaim(tx, first);
    }));
    expect(fenced?.code).toBe('RUN_CLAIM_LOST');
    expect(fenced?.message).toMatch(/^the claim on run 70 was lost \(another process has claimed it since: generation \d+ of its claims is no longer the current one\)/);
    expect(first.lost()).toBe(fenced);
    expect(await probeRows()).toBe(before);
    await guardedByClaim(db.sql, second).transaction((tx) => tx.query('insert into claim_probe values (5)'));
    expect(await probeRows()).toBe(before + 1);
    await second.release();
  });

  it("a whole run's claim fences its workers, and a worker's claim the whole run, but workers not each other", async () => {
    const worker = (index: number): RunShare => ({ runId: '71', worker: { index, count: 2 } });
    const stillCurrent = async (taken: RunClaim): Promise<boolean> =>
      (await lostError(db.sql.transaction((tx) => proveClaim(tx, taken)))) === undefined;
    const one = await claim(worker(1));
    const two = await claim(worker(2));
    expect([one.token.share, two.token.share]).toEqual([1, 2]);
    expect([await stillCurrent(one), await stillCurrent(two)]).toEqual([true, true]);
    await one.release();
    await two.release();
    const whole = await claim({ runId: '71' });
    expect([await stillCurrent(one), await stillCurrent(two), await stillCurrent(whole)]).toEqual([false, false, true]);
    await whole.release();
    const again = await claim(worker(2));
    expect([await stillCurrent(whole), await stillCurrent(again)]).toEqual([false, true]);
    await again.release();
    // Another run's claims are not this run's.
    const other = await claim({ runId: '72' });
    expect(await stillCurrent(again)).toBe(true);
    await other.release();
  });

  it('a rollback claims the run as a whole: a process that lost its claim on the run, or on a worker share, can no longer commit', async () => {
    const runId = await newRun(db.sql);
    const worker = await claim({ runId, worker: { index: 2, count: 3 } });
    await worker.release();
    // The single process's claim fences the worker's; only the rollback's can fence its own.
    const single = await claim({ runId });
    await single.release();
    expect(await lostError(db.sql.transaction((tx) => proveClaim(tx, single)))).toBeUndefined();
    await rollbackRun(db.sql, { runId, schema: 'public', confirm: true });
    expect((await findRun(db.sql, runId))?.status).toBe('rolled_back');
    for (const stale of [single, worker]) {
      const fenced = await lostError(db.sql.transaction((tx) => proveClaim(tx, stale)));
      expect(fenced?.code, stale.description).toBe('RUN_CLAIM_LOST');
    }
  });

  describe.skipIf(missing('postgres-server'))('on PostgreSQL, across sessions', () => {
    it('a whole run is claimed once; another run is not in the way; a released claim is free again', async () => {
      const first = await claim({ runId: '41' });
      const second = await refusal({ runId: '41' });
      expect(second.code).toBe('RUN_BUSY');
      expect(second.message).toMatch(new RegExp(`^run 41 is being worked on by another process \\(PostgreSQL backend \\d+ "${CLAIM_APPLICATION_NAME} run 41" `));
      expect(second.message).toContain('Nothing was done');
      await (await claim({ runId: '42' })).release();
      await first.release();
      await (await claim({ runId: '41' })).release();
    });

    it('workers of one run coexist, but not two of the same K, nor a worker and a whole-run claim', async () => {
      const worker = (index: number, runId = '51'): RunShare => ({ runId, label: 'june', worker: { index, count: 3 } });
      const one = await claim(worker(1));
      const two = await claim(worker(2));
      const sameK = await refusal(worker(2));
      expect(sameK.code).toBe('RUN_BUSY');
      expect(sameK.message).toMatch(new RegExp(`^worker 2/3 of run 51 \\(june\\) is being worked on by another process \\(PostgreSQL backend \\d+ "${CLAIM_APPLICATION_NAME} run 51 worker 2/3"`));
      // A single process on a shared run would read every worker's share.
      const whole = await refusal({ runId: '51' });
      expect(whole.code).toBe('RUN_BUSY');
      expect(whole.message).toContain(`"${CLAIM_APPLICATION_NAME} run 51 worker 1/3"`);
      expect(whole.message).toContain(`"${CLAIM_APPLICATION_NAME} run 51 worker 2/3"`);
      // Worker 2 of another run is another share.
      await (await claim(worker(2, '52'))).release();
      await one.release();
      await two.release();

      const single = await claim({ runId: '51' });
      for (const index of [1, 3]) expect((await refusal(worker(index))).code).toBe('RUN_BUSY');
      await single.release();
      await (await claim(worker(3))).release();
    });

    it('a writer paused between its pg_locks check and its commit while another process claims the share and reads its checkpoint fails whole: the batch counts once', async () => {
      const runId = await newRun(db.sql);
      const share: RunShare = { runId, worker: { index: 1, count: 2 } };
      const batch = linkBatch(runId, [linkRecord(301), linkRecord(302)], {
        checkpoints: [{ partition: 'segment-0-of-2', position: { Id: { S: 'after-302' } }, done: false }],
      });
      const stale = await claim(share);
      const paused = pausedBeforeProof(db.sql, 1);
      const staleWrite = writeBatch(guardedByClaim(paused.sql, stale), batch).then(
        () => undefined,
        (error: unknown) => error as MigrateError,
      );
      const stalePid = await paused.reached;
      await db.sql.query(`select pg_terminate_backend(pid, 10000) from pg_stat_activity where datname = current_database() and application_name = $1`, [
        `${CLAIM_APPLICATION_NAME} run ${runId} worker 1/2`,
      ]);
      // The successor claims the share and finds no checkpoint: the paused batch has not committed.
      // Nothing of the runner's (its resume takes the run's row) stands between the two here.
      const successor = await claim(share);
      expect(await loadCheckpoints(db.sql, runId, 'GoalKpiLink')).toEqual({});
      const successorWrite = writeBatch(guardedByClaim(db.sql, successor), batch);
      const deadline = Date.now() + 30_000;
      while ((await sessionsBlockedBy(db.sql, stalePid)) === 0) {
        if (Date.now() > deadline) throw new Error('the successor never waited for the paused batch');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      paused.release();
      const fenced = await staleWrite;
      expect(fenced?.code).toBe('RUN_CLAIM_LOST');
      expect(fenced?.message).toMatch(/another process has claimed it since/);
      await successorWrite;
      const counted = await db.sql.query<{ read: number; migrated: number }>(
        `select read::int as read, migrated::int as migrated from kpi_migrate.run_counts where run_id = $1::bigint and entity = 'GoalKpiLink'`,
        [runId],
      );
      expect(counted.rows).toEqual([{ read: 2, migrated: 2 }]);
      expect(await count(db.sql, `select 1 from public.kpi_links where first_run_id = $1::bigint`, [runId])).toBe(2);
      await successor.release();
    });

    it('a claim whose connection is terminated is lost: nothing more commits under it, and the error names it', async () => {
      const taken = await claim({ runId: '61' });
      const guarded = guardedByClaim(db.sql, taken);
      const before = await probeRows();
      await guarded.transaction((tx) => tx.query('insert into claim_probe values (2)'));
      const { rows } = await db.sql.query<{ cut: boolean }>(
        // The timeout makes it wait until the backend is gone, and its locks with it.
        `select pg_terminate_backend(pid, 10000) as cut from pg_stat_activity
          where datname = current_database() and application_name = $1`,
        [`${CLAIM_APPLICATION_NAME} run 61`],
      );
      expect(rows).toEqual([{ cut: true }]);
      const lost = await guarded.transaction((tx) => tx.query('insert into claim_probe values (3)')).then(
        () => undefined,
        (error: unknown) => error as MigrateError,
      );
      expect(lost?.code).toBe('RUN_CLAIM_LOST');
      expect(lost?.message).toMatch(/^the claim on run 61 was lost \(/);
      expect(await probeRows()).toBe(before + 1);
      // Whoever restarts the run gets it.
      await (await claim({ runId: '61' })).release();
    });
  });
});
