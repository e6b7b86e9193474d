import { MigrateError } from '../errors.js';
import { targetFailure, databaseRefusalOf } from '../db/database-error.js';
import type { RunId } from './ledger.js';
import type { AdvisoryLock, HeldAdvisoryLocks, SqlClient, SqlSession } from '../db/sql-client.js';

/**
 * Classids of run claims, as advisory locks (classid, objid) = (RUN_CLAIM_CLASS + share, run id):
 * share 0 is the whole run, share K worker K of a shared run (K < 2^20, more than a run can have
 * workers). A block of classids of the tool's own, apart from its other advisory locks (7312001,
 * 7312002) and from other applications' on the same database.
 */
export const RUN_CLAIM_CLASS = 0x4b500000;
const MOST_SHARES = 0xfffff;

/** The application_name of the connections that hold claims: `kpi-migrate-claim run 7 worker 3/8`. */
export const CLAIM_APPLICATION_NAME = 'kpi-migrate-claim';

/** What one process works on: a whole run (one process, or a resume), or worker K's share of a shared run. */
export interface RunShare {
  runId: RunId;
  label?: string | null;
  worker?: { index: number; count: number };
}

/**
 * The fencing token of a claim: the generation it took of its share's row in
 * kpi_migrate.claim_generations. Share 0 is a whole run, share K worker K of a shared run.
 */
export interface FencingToken {
  runId: RunId;
  share: number;
  /** A bigint, as decimal text. */
  generation: string;
}

/** A process's exclusive right to work on a share of a run, held until released or lost. */
export interface RunClaim {
  /** `run 7 (june)`, `worker 3/8 of run 7 (june)`. */
  readonly description: string;
  /** What proveClaim checks: every later claim of this share (or of one that overlaps it) takes a newer generation. */
  readonly token: FencingToken;
  /** RUN_CLAIM_LOST once the claim is known to be gone, else undefined. */
  lost(): MigrateError | undefined;
  /** Records the claim as lost for `cause`: returns the RUN_CLAIM_LOST error that lost() returns from now on. */
  markLost(cause: Error): MigrateError;
  /**
   * An early warning, not the guarantee (that is proveClaim): throws RUN_CLAIM_LOST unless
   * PostgreSQL still shows the claim's locks held, as `session` sees it.
   */
  confirm(session: SqlSession): Promise<void>;
  release(): Promise<void>;
}

/**
 * A worker holds the whole run's key shared and its own share's key exclusively, a single process
 * the whole run's key exclusively: workers of one run coexist, two of the same K do not, and a
 * single process excludes every worker of its run and is excluded by any of them.
 */
export function claimLocks(share: RunShare): AdvisoryLock[] {
  // Run ids past 2^31 wrap around: two runs 2^32 apart would then share keys, which can only
  // refuse a claim, never let two processes into one share.
  const objId = Number(BigInt.asIntN(32, BigInt(share.runId)));
  if (share.worker === undefined) return [{ classId: RUN_CLAIM_CLASS, objId, mode: 'exclusive' }];
  const { index } = share.worker;
  if (!Number.isInteger(index) || index < 1 || index > MOST_SHARES) throw new MigrateError('INTERNAL', `no claim for worker ${index}`);
  return [
    { classId: RUN_CLAIM_CLASS, objId, mode: 'shared' },
    { classId: RUN_CLAIM_CLASS + index, objId, mode: 'exclusive' },
  ];
}

export function describeShare(share: RunShare): string {
  const run = share.label ? `run ${share.runId} (${share.label})` : `run ${share.runId}`;
  return share.worker === undefined ? run : `worker ${share.worker.index}/${share.worker.count} of ${run}`;
}

function applicationNameOf(share: RunShare): string {
  const worker = share.worker === undefined ? '' : ` worker ${share.worker.index}/${share.worker.count}`;
  return `${CLAIM_APPLICATION_NAME} run ${share.runId}${worker}`;
}

/**
 * Claims `share` for this process, on a connection of its own that stays open until release():
 * the claim lasts as long as that connection, so a process killed or cut off loses it at once.
 * Throws RUN_BUSY, having done nothing, when another process holds a claim that conflicts, and
 * RUN_NOT_FOUND when the run does not exist. Once the locks are held, the claim takes a new
 * generation of its share (its fencing token), which fences off every earlier holder: whatever
 * such a process has not committed yet can no longer commit (proveClaim).
 */
export async function claimRun(sql: SqlClient, share: RunShare): Promise<RunClaim> {
  const locks = claimLocks(share);
  const description = describeShare(share);
  let held: HeldAdvisoryLocks | undefined;
  try {
    held = await sql.holdAdvisoryLocks(locks, applicationNameOf(share));
  } catch (error) {
    throw targetFailure(error, `claiming ${description}`);
  }
  if (held === undefined) {
    const holders = await conflictingHolders(sql, locks);
    throw new MigrateError(
      'RUN_BUSY',
      `${description} is being worked on by another process${holders.length > 0 ? ` (${holders.join('; ')})` : ''}: ` +
        'two processes on the same share would both write it and count it twice. Nothing was done: start this one again once that one has ended ' +
        '(a process killed or cut off gives its claim up as soon as PostgreSQL sees its connection close)',
      { details: { holders } },
    );
  }
  let token: FencingToken | undefined;
  try {
    token = await takeGeneration(sql, share);
  } catch (error) {
    await held.release();
    throw claimFailure(error, description);
  }
  if (token === undefined) {
    await held.release();
    throw new MigrateError('RUN_NOT_FOUND', `run ${share.runId} does not exist`);
  }
  return claimHeldBy(held, share, locks, description, token);
}

/**
 * Bumps the generation of the claimed share and of every share it overlaps, committed before the
 * claim is used: a whole run's claim fences all its workers, a worker's claim the whole run (a
 * single process that ran it before) and its own K. Workers of one run leave each other alone.
 * Undefined when the run does not exist.
 */
async function takeGeneration(sql: SqlSession, share: RunShare): Promise<FencingToken | undefined> {
  const shareIndex = share.worker?.index ?? 0;
  // Data-modifying WITH clauses always run to completion: `fenced` and the insert touch
  // different rows of one run, in one statement and one transaction.
  const { rows } = await sql.query<{ generation: string }>(
    `with run as (select id from kpi_migrate.runs where id = $1::bigint),
          fenced as (
            update kpi_migrate.claim_generations set generation = generation + 1, claimed_at = now()
             where run_id = (select id from run) and (case when $2::int = 0 then share <> 0 else share = 0 end))
     insert into kpi_migrate.claim_generations as g (run_id, share, generation)
     select id, $2::int, 1 from run
     on conflict (run_id, share) do update set generation = g.generation + 1, claimed_at = now()
     returning generation::text as generation`,
    [share.runId, shareIndex],
  );
  const generation = rows[0]?.generation;
  return generation === undefined ? undefined : { runId: share.runId, share: shareIndex, generation };
}

function claimFailure(error: unknown, description: string): MigrateError {
  const failure = targetFailure(error, `claiming ${description}`);
  if (databaseRefusalOf(error)?.sqlstate !== '42P01') return failure;
  // A ledger written by an older kpi-migrate: `run` migrates it first, `rollback` does not.
  return new MigrateError(failure.code, `${failure.message} (the ledger predates this kpi-migrate: \`kpi-migrate schema apply\` brings it up to date)`, {
    cause: error,
    details: failure.details,
  });
}

function claimHeldBy(held: HeldAdvisoryLocks, share: RunShare, locks: AdvisoryLock[], description: string, token: FencingToken): RunClaim {
  let lostError: MigrateError | undefined;
  const lostBecause = (cause: Error): MigrateError => {
    const again = share.worker === undefined ? `run --resume ${share.runId}` : 'the same command';
    lostError ??= new MigrateError(
      'RUN_CLAIM_LOST',
      `the claim on ${description} was lost (${cause.message}): this process stopped before committing anything more, ` +
        `since another one may now take that share over; what was committed stays, and ${again} continues from it`,
      { cause },
    );
    return lostError;
  };
  const lost = (): MigrateError | undefined => {
    const cause = held.lostBecause();
    return lostError ?? (cause === undefined ? undefined : lostBecause(cause));
  };
  const classIds = locks.map((lock) => lock.classId);
  const objIds = locks.map((lock) => lock.objId);
  return {
    description,
    token,
    lost,
    markLost: lostBecause,
    async confirm(session) {
      const known = lost();
      if (known !== undefined) throw known;
      // Asked of the server, not of the holding connection: the transaction that is about to
      // commit sees whether PostgreSQL still counts the claim as held.
      const { rows } = await session.query<{ held: number }>(
        `select count(distinct (l.classid, l.objid))::int as held
           from pg_locks l join unnest($2::int4[], $3::int4[]) as k(class_id, obj_id)
             on l.classid = k.class_id::oid and l.objid = k.obj_id::oid
          where l.locktype = 'advisory' and l.objsubid = 2 and l.granted and l.pid = $1`,
        [held.backendPid, classIds, objIds],
      );
      if ((rows[0]?.held ?? 0) < locks.length) {
        throw lostBecause(held.lostBecause() ?? new Error(`PostgreSQL backend ${held.backendPid}, which held it, holds it no more`));
      }
    },
    release: () => held.release(),
  };
}

/** Who holds what refused the claim, as far as pg_stat_activity shows it: for the message only. */
async function conflictingHolders(sql: SqlSession, locks: AdvisoryLock[]): Promise<string[]> {
  try {
    const { rows } = await sql.query<{ pid: number; application_name: string | null; client_addr: string | null; since: string | null }>(
      `select distinct l.pid, a.application_name, host(a.client_addr) as client_addr,
              to_char(a.backend_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as since
         from pg_locks l
         join unnest($1::int4[], $2::int4[], $3::bool[]) as k(class_id, obj_id, exclusive)
           on l.classid = k.class_id::oid and l.objid = k.obj_id::oid and (k.exclusive or l.mode = 'ExclusiveLock')
         left join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.objsubid = 2 and l.granted
          and l.database = (select oid from pg_database where datname = current_database())
        order by l.pid limit 5`,
      [locks.map((lock) => lock.classId), locks.map((lock) => lock.objId), locks.map((lock) => lock.mode === 'exclusive')],
    );
    return rows.map((row) =>
      [
        `PostgreSQL backend ${row.pid}`,
        row.application_name ? `"${row.application_name}"` : undefined,
        row.client_addr ? `from ${row.client_addr}` : undefined,
        row.since ? `connected since ${row.since}` : undefined,
      ]
        .filter((part) => part !== undefined)
        .join(' '),
    );
  } catch {
    // The refusal stands whatever this says; a role that cannot read pg_stat_activity gets no names.
    return [];
  }
}

/**
 * Proves, inside the caller's transaction, that `claim` is still the latest claim of its share,
 * or throws RUN_CLAIM_LOST (and the transaction must roll back). This, not the pg_locks check of
 * `confirm`, is what keeps a process that lost its claim from committing: every transaction that
 * writes under a claim calls it as its last statement before COMMIT. guardedByClaim does so for
 * every transaction of `run` and of a worker, rollbackRun for its own; any other writer under a
 * claim (finalize, a convergence sweep, sync) must call it the same way, in the same transaction.
 *
 * One statement: an UPDATE of the share's generation row that must find the claim's generation.
 * A later claim has bumped it (and this fails), or it has not, and then the row stays locked
 * until this transaction ends: a process claiming the share after this point waits for the commit
 * before it can read a checkpoint, so no batch is ever counted by two processes.
 */
export async function proveClaim(session: SqlSession, claim: RunClaim): Promise<void> {
  const { runId, share, generation } = claim.token;
  let rows: unknown[];
  try {
    ({ rows } = await session.query(
      `update kpi_migrate.claim_generations set generation = generation
        where run_id = $1::bigint and share = $2::int and generation = $3::bigint returning 1 as proven`,
      [runId, share, generation],
    ));
  } catch (error) {
    // Under repeatable read (a database's default_transaction_isolation), a claim that bumped the
    // row since this transaction's snapshot is a serialization failure rather than no row.
    if (databaseRefusalOf(error)?.sqlstate === '40001') throw claim.markLost(new Error('another process claimed it while this transaction ran'));
    throw error;
  }
  if (rows.length !== 1) {
    throw claim.markLost(new Error(`another process has claimed it since: generation ${generation} of its claims is no longer the current one`));
  }
}

/**
 * `sql` for work done under `claim`: a transaction commits only if the claim is still the
 * share's latest when its work is done (proveClaim; one lost in between makes it roll back),
 * and none starts once the claim is known lost.
 */
export function guardedByClaim(sql: SqlClient, claim: RunClaim): SqlClient {
  const guarded: SqlClient = {
    dialect: sql.dialect,
    query: (text, params) => sql.query(text, params),
    exec: (script) => sql.exec(script),
    copyFrom: (table, columns, copyText) => guarded.transaction((session) => session.copyFrom(table, columns, copyText)),
    async transaction(work) {
      const known = claim.lost();
      if (known !== undefined) throw known;
      return sql.transaction(async (session) => {
        const result = await work(session);
        await claim.confirm(session);
        await proveClaim(session, claim);
        return result;
      });
    },
    holdAdvisoryLocks: (locks, applicationName) => sql.holdAdvisoryLocks(locks, applicationName),
    close: () => sql.close(),
  };
  return guarded;
}
