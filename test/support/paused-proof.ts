import type { SqlClient, SqlSession } from '../../src/db/sql-client.js';

// proveClaim's statement, which the pause holds back: everything before it has run, the
// pg_locks check of the claim included.
const PROOF = 'update kpi_migrate.claim_generations set generation = generation';

export interface PausedProof {
  sql: SqlClient;
  /** Resolves, with the PostgreSQL backend pid of the paused transaction, once it is paused. */
  reached: Promise<number>;
  release(): void;
}

/**
 * `inner`, except that its `batch`-th batch transaction (one that advances checkpoints) stops just
 * before it proves its claim, until release(): fault injection at the one moment a fencing race
 * needs, the claim checked by pg_locks and the commit one statement away.
 */
export function pausedBeforeProof(inner: SqlClient, batch: number): PausedProof {
  let batches = 0;
  let reached!: (backendPid: number) => void;
  let release!: () => void;
  const reachedAt = new Promise<number>((resolve) => (reached = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const pausing = (session: SqlSession): SqlSession => {
    let writesCheckpoints = false;
    return {
      async query<Row>(text: string, params?: readonly unknown[]) {
        if (text.includes('insert into kpi_migrate.checkpoints')) writesCheckpoints = true;
        if (writesCheckpoints && text.includes(PROOF) && ++batches === batch) {
          const { rows } = await session.query<{ pid: number }>('select pg_backend_pid() as pid');
          reached(rows[0]!.pid);
          await released;
        }
        return session.query<Row>(text, params);
      },
      exec: (script) => session.exec(script),
      copyFrom: (table, columns, copyText) => session.copyFrom(table, columns, copyText),
    };
  };
  const sql: SqlClient = {
    dialect: inner.dialect,
    query: (text, params) => inner.query(text, params),
    exec: (script) => inner.exec(script),
    copyFrom: (table, columns, copyText) => sql.transaction((session) => session.copyFrom(table, columns, copyText)),
    transaction: (work) => inner.transaction((session) => work(pausing(session))),
    holdAdvisoryLocks: (locks, applicationName) => inner.holdAdvisoryLocks(locks, applicationName),
    close: () => inner.close(),
  };
  return { sql, reached: reachedAt, release };
}

/** How many sessions wait for a lock that backend `pid` holds. */
export async function sessionsBlockedBy(sql: SqlSession, pid: number): Promise<number> {
  const { rows } = await sql.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where $1::int = any(pg_blocking_pids(pid))', [pid]);
  return rows[0]!.n;
}
