/**
 * Fatal errors carry a stable code and their cause. Per-record problems are never errors:
 * they are rejects (see transform/reject.ts). Exit codes are chosen in one place: cli/exit.ts.
 */
export const ERROR_CODES = {
  /** Flags or configuration are wrong: nothing was done. */
  CONFIG_INVALID: 'usage',
  USAGE: 'usage',
  /** A source cannot be read as promised (corrupt file, count mismatch): fix it and resume. */
  SOURCE_CORRUPT: 'runtime',
  SOURCE_UNAVAILABLE: 'runtime',
  DYNAMODB_LOCAL_UNAVAILABLE: 'runtime',
  TARGET_UNAVAILABLE: 'runtime',
  TARGET_SCHEMA: 'runtime',
  /** The target refused a statement for another reason (a trigger, a constraint of the application's): its message says why. */
  TARGET_REFUSED: 'runtime',
  /**
   * The application's own kpi_links/kpi_data (contract §6) cannot take the tool's rows: a column
   * the tool writes is missing or of another type (each named). Nothing was written; the schema must change.
   */
  TARGET_INCOMPATIBLE: 'usage',
  /** What the command names or asks of a stored run cannot be (checked before anything is done, or certain to recur). */
  RUN_NOT_FOUND: 'usage',
  RUN_STATE: 'usage',
  /**
   * The run's record changed under this process mid-run (another process completed, failed or
   * rolled it back, or it was deleted). Runtime: the same command may succeed (a new run), or is
   * refused at its start with RUN_STATE when it cannot (resuming a run that was rolled back).
   */
  RUN_CHANGED: 'runtime',
  /**
   * Another process works on this run or share (its claim is held): nothing was done. Runtime,
   * not usage: the same command succeeds once that process has ended, so a Job should retry it.
   */
  RUN_BUSY: 'runtime',
  /** The claim on the run was lost mid-run (its connection ended): stopped before committing more; resume. */
  RUN_CLAIM_LOST: 'runtime',
  /** A converge run would delete more than --max-delete allows (a wrong source?): nothing was deleted. */
  CONVERGE_REFUSED: 'usage',
  /**
   * A sync cannot follow the source from where the run left it (no stream, a position the stream
   * no longer holds, a gap between export windows): nothing was written; a new full run is needed.
   */
  SYNC_REFUSED: 'usage',
  /** A bug: an invariant broke, or an error nothing classified. Retrying the same command would meet it again. */
  INTERNAL: 'internal',
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export class MigrateError extends Error {
  override readonly name = 'MigrateError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details ?? {};
  }
  readonly details: Record<string, unknown>;
}

/** Anything thrown → a MigrateError, keeping the original as its cause; unclassified is a bug (INTERNAL). */
export function coerceError(error: unknown, code: ErrorCode = 'INTERNAL'): MigrateError {
  if (error instanceof MigrateError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new MigrateError(code, message, { cause: error });
}
