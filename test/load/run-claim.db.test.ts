import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigrateError } from '../../src/errors.js';
import { CLAIM_APPLICATION_NAME, claimRun, guardedByClaim, type RunClaim, type RunShare } from '../../src/load/run-claim.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { missing } from '../support/prerequisites.js';

describe('run claims (advisory locks held on a connection of their own)', () => {
  let db: TestDatabase;
  const held: RunClaim[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.sql.exec('create table claim_probe (n int not null)');
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

  // Runs on PGlite too: there the claim is held in its one session, and the same checks pass.
  it('a transaction under a held claim commits, and released claims can be taken again', async () => {
    const taken = await claim({ runId: '40' });
    const guarded = guardedByClaim(db.sql, taken);
    await guarded.transaction((tx) => tx.query('insert into claim_probe values (1)'));
    expect(await probeRows()).toBe(1);
    await taken.release();
    await (await claim({ runId: '40' })).release();
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
