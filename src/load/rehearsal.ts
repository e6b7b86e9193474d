import { MigrateError } from '../errors.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';

/**
 * A client whose work all happens in ONE transaction on one connection, rolled back by `end()`:
 * what a dry run writes with it is what the real run would write, and every later write sees the
 * earlier ones (a data row's foreign key finds the links, an id_conflict check the rows of an
 * earlier entity), yet nothing of it ever commits.
 */
export interface Rehearsal {
  readonly client: SqlClient;
  /** Rolls everything back and gives the connection back; idempotent. Later use of `client` fails. */
  end(): Promise<void>;
}

class RehearsalOver extends Error {
  constructor() {
    super('rehearsal ended: rolled back');
  }
}

/**
 * Opens the rehearsal on one connection of `sql`. Its `transaction(work)` is a savepoint of the
 * outer transaction: released when `work` resolves (so the next one sees it), rolled back when it
 * throws, exactly as a transaction of its own would be. Transactions and statements take turns,
 * since they share the one connection: a statement never lands inside another's savepoint.
 */
export async function openRehearsal(sql: SqlClient): Promise<Rehearsal> {
  let ready!: (session: SqlSession) => void;
  let failedToOpen!: (error: unknown) => void;
  const opened = new Promise<SqlSession>((resolve, reject) => {
    ready = resolve;
    failedToOpen = reject;
  });
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const outer = sql
    .transaction(async (session) => {
      // Between two batches the connection idles inside this transaction while the source is read;
      // a server-wide idle_in_transaction_session_timeout would end the rehearsal there.
      await session.query(`select set_config('idle_in_transaction_session_timeout', '0', true)`);
      ready(session);
      await finished;
      throw new RehearsalOver();
    })
    .then(
      () => undefined,
      (error: unknown) => {
        failedToOpen(error);
        if (!(error instanceof RehearsalOver)) throw error;
      },
    );
  // Failures of the outer transaction surface through the statements that meet them, and from end().
  outer.catch(() => {});
  const session = await opened;

  let turn: Promise<unknown> = Promise.resolve();
  let over = false;
  let savepoints = 0;
  /** Runs `task` once everything queued before it has settled. */
  const inTurn = <T>(task: () => Promise<T>): Promise<T> => {
    const result = turn.then(() => {
      if (over) throw new MigrateError('INTERNAL', 'the dry run was already rolled back');
      return task();
    });
    turn = result.catch(() => {});
    return result;
  };

  const client: SqlClient = {
    dialect: sql.dialect,
    query: (text, params) => inTurn(() => session.query(text, params)),
    exec: (script) => inTurn(() => session.exec(script)),
    copyFrom: (table, columns, copyText) => client.transaction((tx) => tx.copyFrom(table, columns, copyText)),
    transaction: (work) =>
      inTurn(async () => {
        const name = `kpi_migrate_rehearsal_${++savepoints}`;
        await session.query(`savepoint ${name}`);
        let result;
        try {
          result = await work(session);
        } catch (error) {
          // A connection that broke takes the whole rehearsal with it: the original error says why.
          await session.exec(`rollback to savepoint ${name}; release savepoint ${name}`).catch(() => {});
          throw error;
        }
        await session.query(`release savepoint ${name}`);
        return result;
      }),
    holdAdvisoryLocks: (locks, applicationName) => sql.holdAdvisoryLocks(locks, applicationName),
    // The connection belongs to `sql`; end() gives it back.
    close: async () => {},
  };
  return {
    client,
    async end() {
      if (!over) {
        // After whatever is under way: its savepoint must not outlive the transaction.
        await turn;
        over = true;
        finish();
      }
      await outer;
    },
  };
}
