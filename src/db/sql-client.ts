/** COPY text, or its UTF-8 bytes in pieces (views of one buffer, say) that together are the text. */
export type CopyData = string | readonly Uint8Array[];

/** What the load and validate stages need of a PostgreSQL connection, real or embedded. */
export interface SqlSession {
  query<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<{ rows: Row[]; rowCount: number }>;
  /** Several statements in one string (a migration file), no parameters. */
  exec(script: string): Promise<void>;
  /**
   * `COPY <table> (<columns>) FROM STDIN` with rows in COPY text format, as text or as UTF-8
   * pieces sent one after the other as they are; resolves to rows copied.
   * On PGlite the same statement reads from its `/dev/blob` device instead of a socket.
   */
  copyFrom(table: string, columns: readonly string[], copyText: CopyData): Promise<number>;
}

/** A session-level advisory lock in PostgreSQL's two-int4 form (pg_locks: objsubid 2). */
export interface AdvisoryLock {
  classId: number;
  objId: number;
  /** Shared locks coexist with each other; an exclusive one with nothing. */
  mode: 'exclusive' | 'shared';
}

/** Advisory locks held by one session, until released or until that session's connection is lost. */
export interface HeldAdvisoryLocks {
  /** The holding backend's pg_backend_pid(): the `pid` that pg_locks shows for these locks. */
  readonly backendPid: number;
  /** Why the holding connection was lost (its locks went with it), or undefined while they are held. */
  lostBecause(): Error | undefined;
  /** Idempotent; the locks are gone once it resolves. */
  release(): Promise<void>;
}

export interface SqlClient extends SqlSession {
  readonly dialect: 'postgres' | 'pglite';
  /** Runs `work` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(work: (session: SqlSession) => Promise<T>): Promise<T>;
  /**
   * Takes every lock in `locks` (`pg_try_advisory_lock…`, never waiting) on a session that does
   * nothing else, kept open until released: all of them, or none and undefined when another
   * session holds a conflicting one. `applicationName` is the session's application_name.
   */
  holdAdvisoryLocks(locks: readonly AdvisoryLock[], applicationName: string): Promise<HeldAdvisoryLocks | undefined>;
  close(): Promise<void>;
}
