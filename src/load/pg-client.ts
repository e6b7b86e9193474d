import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { SqlClient, SqlSession } from './sql-client.js';
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
      await pipeline(Readable.from([copyText]), stream);
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
  // The error is not lost: the client's queries fail, and transaction() reports the error itself.
  // The error is kept: a client it hit before transaction() listened says only "not queryable".
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
    async close() {
      await pool.end();
    },
  };
}
