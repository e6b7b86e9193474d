import { PGlite } from '@electric-sql/pglite';
import type { AdvisoryLock, HeldAdvisoryLocks, SqlClient, SqlSession } from './sql-client.js';
import { lockKeys, tryLockCall, unlockCall } from './advisory-locks.js';
import { parseTextValue } from './sql-text-types.js';
import { quoteIdent } from './identifiers.js';

type PgliteRunner = Pick<PGlite, 'query' | 'exec'>;

// PGlite applies `parsers` per OID; an explicit map keeps its values in the same text form as pg's.
const TEXT_OIDS = [20, 114, 1082, 1083, 1114, 1184, 1186, 1700, 114, 3802, 2950, 700, 701];
const parsers = Object.fromEntries(TEXT_OIDS.map((oid) => [oid, (text: string) => parseTextValue(oid, text)]));

function sessionOf(db: PgliteRunner): SqlSession {
  return {
    async query(text, params) {
      const result = await db.query(text, params as unknown[] | undefined, { parsers });
      return { rows: result.rows as never[], rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(script) {
      await db.exec(script);
    },
    async copyFrom(table, columns, copyText) {
      // COPY FROM STDIN over pglite-socket is broken (pglite #911); its /dev/blob device is not.
      const sql = `copy ${table} (${columns.map(quoteIdent).join(', ')}) from '/dev/blob'`;
      const result = await db.query(sql, [], { blob: new Blob(typeof copyText === 'string' ? [copyText] : (copyText as Uint8Array<ArrayBuffer>[])) });
      return result.affectedRows ?? 0;
    },
  };
}

/** The embedded default: PostgreSQL in WASM, in this process, on disk (`dataDir`) or in memory. */
export async function openPgliteClient(dataDir?: string): Promise<SqlClient> {
  const db = dataDir === undefined ? new PGlite() : new PGlite(dataDir);
  await db.waitReady;
  const base = sessionOf(db);
  return {
    dialect: 'pglite',
    ...base,
    async transaction(work) {
      return db.transaction((tx) => work(sessionOf(tx as unknown as PgliteRunner)));
    },
    holdAdvisoryLocks: (locks) => holdInTheOneSession(db, locks),
    async close() {
      await db.close();
    },
  };
}

/**
 * PGlite is one session in this process, and no other process can open its database: nothing
 * here can ever conflict (a session does not conflict with itself) nor be lost. The locks are
 * taken anyway, on that session, so that what checks them (pg_locks) runs the same on both targets.
 */
async function holdInTheOneSession(db: PGlite, locks: readonly AdvisoryLock[]): Promise<HeldAdvisoryLocks | undefined> {
  const backendPid = (await db.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  const taken: AdvisoryLock[] = [];
  const release = async (): Promise<void> => {
    for (const lock of taken.splice(0)) await db.query(unlockCall(lock), lockKeys(lock)).catch(() => {});
  };
  for (const lock of locks) {
    const { rows } = await db.query<{ taken: boolean }>(`select ${tryLockCall(lock, 1)} as taken`, lockKeys(lock));
    if (rows[0]?.taken !== true) {
      await release();
      return undefined;
    }
    taken.push(lock);
  }
  return { backendPid, lostBecause: () => undefined, release };
}
