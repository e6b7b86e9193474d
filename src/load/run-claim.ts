import { MigrateError } from '../errors.js';
import { targetFailure } from '../db/database-error.js';
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

/** A process's exclusive right to work on a share of a run, held until released or lost. */
export interface RunClaim {
  /** `run 7 (june)`, `worker 3/8 of run 7 (june)`. */
  readonly description: string;
  /** RUN_CLAIM_LOST once the claim is known to be gone, else undefined. */
  lost(): MigrateError | undefined;
  /**
   * Throws RUN_CLAIM_LOST unless PostgreSQL still shows the claim held, as `session` sees it:
   * the last statement of a transaction before it commits.
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
 * Throws RUN_BUSY, having done nothing, when another process holds a claim that conflicts.
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
  return claimHeldBy(held, share, locks, description);
}

function claimHeldBy(held: HeldAdvisoryLocks, share: RunShare, locks: AdvisoryLock[], description: string): RunClaim {
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
    lost,
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
 * `sql` for work done under `claim`: a transaction commits only if the claim still holds when its
 * work is done (a claim lost in between makes it roll back), and none starts once it is known lost.
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
        return result;
      });
    },
    holdAdvisoryLocks: (locks, applicationName) => sql.holdAdvisoryLocks(locks, applicationName),
    close: () => sql.close(),
  };
  return guarded;
}
