import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { AdvisoryLock, HeldAdvisoryLocks, SqlClient, SqlSession } from './sql-client.js';
import { LOCK_SESSION_SETTINGS, lockKeys, tryLockCall } from './advisory-locks.js';
import { parseTextValue } from './sql-text-types.js';
import { quoteIdent } from './identifiers.js';

const textTypes = {
  getTypeParser: (oid: number) => (text: string) => parseTextValue(oid, text),
} as unknown as pg.CustomTypesConfig;

function sessionOf(client: pg.PoolClient | pg.Pool): SqlSession {
  return {
    async query(text, params) {
      const result = await client.query({ text, values: params as unknown[] | undefined, types: textTypes });
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    },
    async exec(script) {
      await client.query(script);
    },
    async copyFrom(table, columns, copyText) {
      if (!('release' in client)) throw new Error('copyFrom needs a transaction session');
      const sql = `copy ${table} (${columns.map(quoteIdent).join(', ')}) from stdin`;
      const stream = client.query(copyFromStdin(sql));
      // Bytes go to the socket as they are (a string is encoded by the stream).
      await pipeline(Readable.from(typeof copyText === 'string' ? [copyText] : copyText), stream);
      return Number(stream.rowCount);
    },
  };
}

/** A pool on real PostgreSQL; every transaction holds one client until it ends. */
export function openPgClient(connectionString: string, poolSize = 4): SqlClient {
  const pool = new pg.Pool({ connectionString, max: poolSize, application_name: 'kpi-migrate' });
  // An idle client dropped by the server must not crash the process; the next query fails instead.
  pool.on('error', () => {});
  // A backend killed just after its startup can send ReadyForQuery and the FATAL message in one
  // read: the pool hands the new client over in between, before any caller could listen on it.
  // The error is kept, not lost: such a client's queries fail with only "not queryable", and
  // transaction() reports the error itself.
  const connectionErrors = new WeakMap<pg.PoolClient, Error>();
  pool.on('connect', (client) => client.on('error', (error) => void (connectionErrors.has(client) || connectionErrors.set(client, error))));
  const base = sessionOf(pool);
  return {
    dialect: 'postgres',
    query: base.query,
    exec: base.exec,
    async copyFrom(table, columns, copyText) {
      return this.transaction((session) => session.copyFrom(table, columns, copyText));
    },
    async transaction(work) {
      const client = await pool.connect();
      // A checked-out client is not watched by the pool: a backend terminated between two
      // statements emits 'error' on it, which would crash the process without a listener. The
      // next statement fails instead, and the loss (not "client is not queryable") is reported.
      let lost: Error | undefined;
      const onLost = (error: Error) => {
        lost ??= error;
      };
      client.on('error', onLost);
      let broken: unknown;
      try {
        await client.query('begin');
        const result = await work(sessionOf(client));
        await client.query('commit');
        return result;
      } catch (error) {
        broken = await client.query('rollback').then(() => undefined, (rollbackError: unknown) => rollbackError);
        lost ??= connectionErrors.get(client);
        throw lost ?? error;
      } finally {
        client.removeListener('error', onLost);
        // A client whose connection was lost or whose rollback failed is dead or confused: destroy it.
        client.release(lost ?? (broken instanceof Error ? broken : undefined));
      }
    },
    holdAdvisoryLocks: (locks, applicationName) => holdOnOwnConnection(connectionString, locks, applicationName),
    async close() {
      await pool.end();
    },
  };
}

/**
 * The locks on a pg.Client of their own, outside the pool: a pooled connection goes back to the
 * pool between transactions, and its session (and locks) with it. The process dying, or the
 * connection dropping, ends the session, and PostgreSQL releases the locks with it.
 */
async function holdOnOwnConnection(connectionString: string, locks: readonly AdvisoryLock[], applicationName: string): Promise<HeldAdvisoryLocks | undefined> {
  const client = new pg.Client({ connectionString, application_name: applicationName, keepAlive: true, keepAliveInitialDelayMillis: 30_000 });
  let lost: Error | undefined;
  let ending = false;
  const onLost = (error: Error): void => {
    if (!ending) lost ??= error;
  };
  // An idle client whose connection breaks emits these; without a listener 'error' would crash the process.
  client.on('error', onLost);
  client.on('end', () => onLost(new Error('the connection ended')));
  const end = async (): Promise<void> => {
    ending = true;
    await client.end().catch(() => {});
  };
  let backendPid: number;
  try {
    await client.connect();
    await client.query(LOCK_SESSION_SETTINGS);
    const { rows } = await client.query<{ pid: number; taken: boolean }>(
      `select pg_backend_pid() as pid, ${locks.length === 0 ? 'true' : locks.map((lock, at) => tryLockCall(lock, 2 * at + 1)).join(' and ')} as taken`,
      locks.flatMap(lockKeys),
    );
    if (rows[0]?.taken !== true) {
      // Ending the session releases whichever of the locks it did take.
      await end();
      return undefined;
    }
    backendPid = rows[0].pid;
  } catch (error) {
    await end();
    throw lost ?? error;
  }
  return {
    backendPid,
    lostBecause: () => lost,
    release: end,
  };
}
