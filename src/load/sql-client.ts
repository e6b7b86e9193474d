/** What the load and validate stages need of a PostgreSQL connection, real or embedded. */
export interface SqlSession {
  query<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<{ rows: Row[]; rowCount: number }>;
  /** Several statements in one string (a migration file), no parameters. */
  exec(script: string): Promise<void>;
  /**
   * `COPY <table> (<columns>) FROM STDIN` with rows in COPY text format; resolves to rows copied.
   * On PGlite the same statement reads from its `/dev/blob` device instead of a socket.
   */
  copyFrom(table: string, columns: readonly string[], copyText: string): Promise<number>;
}

export interface SqlClient extends SqlSession {
  readonly dialect: 'postgres' | 'pglite';
  /** Runs `work` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(work: (session: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
