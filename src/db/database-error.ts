import { MigrateError } from '../errors.js';

/** What PostgreSQL (pg's DatabaseError, PGlite's, pg-copy-streams') says when it refuses a statement. */
export interface DatabaseRefusal {
  sqlstate: string;
  message: string;
  detail?: string;
  where?: string;
  column?: string;
  constraint?: string;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

export function databaseRefusalOf(error: unknown): DatabaseRefusal | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const fields = error as Record<string, unknown>;
  const text = (name: string): string | undefined => (typeof fields[name] === 'string' ? (fields[name] as string) : undefined);
  const sqlstate = text('code');
  // Node's own error codes (ECONNRESET, EPIPE…) look alike but come without a server severity.
  if (sqlstate === undefined || !SQLSTATE.test(sqlstate) || text('severity') === undefined) return undefined;
  return {
    sqlstate,
    message: error instanceof Error ? error.message : String(text('message')),
    ...(text('detail') ? { detail: text('detail') } : {}),
    ...(text('where') ? { where: text('where') } : {}),
    ...(text('column') ? { column: text('column') } : {}),
    ...(text('constraint') ? { constraint: text('constraint') } : {}),
  };
}

/**
 * SQLSTATE classes that mean "this data is refused" (cardinality, data exception, integrity
 * constraint, program limit such as an oversized index row, a trigger's RAISE) rather than "the
 * database, the schema or the code is broken": only these are isolated down to one record.
 */
const RECORD_REFUSAL_CLASSES = new Set(['21', '22', '23', '54', 'P0']);

export function refusesRecord(refusal: DatabaseRefusal): boolean {
  return RECORD_REFUSAL_CLASSES.has(refusal.sqlstate.slice(0, 2));
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);
// The connection's TLS could not be set up as the URL asks (sslmode, sslrootcert): pg's and Node's own words.
const TLS_FAILURE = /does not support SSL|certificate|self[- ]signed|\bTLS\b|\bSSL\b/i;
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|CERT_)/;
// Files a connection reads (sslrootcert, sslcert, sslkey) that are missing or unreadable.
const CONNECTION_FILE_CODES = new Set(['ENOENT', 'EACCES']);

/**
 * SQLSTATE classes of a server that cannot do it now but may on a retry: connection (08),
 * resources (53), operator intervention (57), transaction rollback (40: serialization failure,
 * deadlock), object in use or lock not available (55), system error (58), internal error (XX).
 */
const TRANSIENT_CLASSES = new Set(['08', '53', '57', '40', '55', '58', 'XX']);

/**
 * A failure of the target database as a fatal MigrateError: unavailable, wrong schema, another
 * refusal of the server, or (not from the server at all) internal, a bug.
 */
export function targetFailure(error: unknown, doing: string): MigrateError {
  if (error instanceof MigrateError) return error;
  const refusal = databaseRefusalOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const nodeCode = (error as { code?: unknown } | null)?.code;
  const sqlClass = refusal?.sqlstate.slice(0, 2);
  const code =
    (sqlClass !== undefined && TRANSIENT_CLASSES.has(sqlClass)) ||
    UNAVAILABLE_CODES.has(String(nodeCode)) ||
    /Connection terminated|connection error and is not queryable/i.test(message) ||
    (refusal === undefined && (TLS_FAILURE.test(message) || TLS_CODES.test(String(nodeCode)) || CONNECTION_FILE_CODES.has(String(nodeCode))))
      ? 'TARGET_UNAVAILABLE'
      : sqlClass === '42' || sqlClass === '3F'
        ? 'TARGET_SCHEMA'
        : refusal !== undefined
          ? 'TARGET_REFUSED'
          : 'INTERNAL';
  return new MigrateError(code, `${doing}: ${message}`, {
    cause: error,
    ...(refusal ? { details: { sqlstate: refusal.sqlstate } } : {}),
  });
}
