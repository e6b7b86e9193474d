import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { openPgliteClient } from '../../src/db/pglite-client.js';
import { createTestDatabase, usesRealPostgres } from '../support/database.js';
import { scratchDir } from './cli-process.js';

/** A target for the CLI in a child process, and a way to see what it wrote once the child is done. */
export interface CliTarget {
  url: string;
  /** How many runs the ledger holds (0 when the CLI never created it). */
  runs(): Promise<number>;
  /** A statement against the target, while no child process has it open. */
  query<Row>(text: string, params?: unknown[]): Promise<Row[]>;
  drop(): Promise<void>;
}

/** A database of its own on the test server, or a PGlite directory the child opens (one process at a time). */
export async function createCliTarget(): Promise<CliTarget> {
  if (usesRealPostgres()) {
    const db = await createTestDatabase();
    return {
      url: db.url,
      async runs() {
        const { rows } = await db.sql.query<{ n: string }>('select count(*)::text as n from kpi_migrate.runs');
        return Number(rows[0]!.n);
      },
      async query<Row>(text: string, params: unknown[] = []) {
        return (await db.sql.query<Row>(text, params)).rows;
      },
      drop: () => db.drop(),
    };
  }
  const dir = path.join(scratchDir('pglite'), 'db');
  return {
    url: `pglite://${dir}`,
    async runs() {
      if (!existsSync(dir) || readdirSync(dir).length === 0) return 0;
      const sql = await openPgliteClient(dir);
      try {
        const { rows } = await sql.query<{ n: string }>(
          `select case when to_regclass('kpi_migrate.runs') is null then '0' else (select count(*)::text from kpi_migrate.runs) end as n`,
        );
        return Number(rows[0]!.n);
      } finally {
        await sql.close();
      }
    },
    async query<Row>(text: string, params: unknown[] = []) {
      const sql = await openPgliteClient(dir);
      try {
        return (await sql.query<Row>(text, params)).rows;
      } finally {
        await sql.close();
      }
    },
    async drop() {},
  };
}
