import { PGlite } from '@electric-sql/pglite';
import type { SqlClient, SqlSession } from './sql-client.js';
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
      const result = await db.query(sql, [], { blob: new Blob([copyText]) });
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
    async close() {
      await db.close();
    },
  };
}
