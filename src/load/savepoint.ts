import { databaseRefusalOf, refusesRecord, type DatabaseRefusal } from '../db/database-error.js';
import type { SqlSession } from '../db/sql-client.js';

/**
 * `work` under the savepoint `name`: its value, or, when the database refuses a record, that
 * refusal with everything `work` did rolled back. The savepoint is released either way; any other
 * failure is thrown as it came.
 */
export async function refusableUnderSavepoint<T>(
  session: SqlSession,
  name: string,
  work: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; refusal: DatabaseRefusal }> {
  await session.query(`savepoint ${name}`);
  try {
    const value = await work();
    await session.query(`release savepoint ${name}`);
    return { ok: true, value };
  } catch (error) {
    const refusal = databaseRefusalOf(error);
    if (refusal === undefined || !refusesRecord(refusal)) throw error;
    await session.query(`rollback to savepoint ${name}`);
    await session.query(`release savepoint ${name}`);
    return { ok: false, refusal };
  }
}
