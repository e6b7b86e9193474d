import { ERROR_CODES, MigrateError, coerceError } from '../errors.js';

/** The tool's exit codes (README): the only place they are chosen. */
export const EXIT = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  runtime: 3,
  internal: 4,
} as const;

/**
 * 2: the same command would fail the same way (give up); 3: it can succeed once the cause is gone
 * (retry, resume); 4: a bug (report it; retrying meets it again). Anything that is not a
 * MigrateError was classified by nobody, and is a bug.
 */
export function exitCodeFor(error: unknown): number {
  const failure = error instanceof MigrateError ? error : coerceError(error);
  const kind = ERROR_CODES[failure.code];
  return kind === 'usage' ? EXIT.usage : kind === 'internal' ? EXIT.internal : EXIT.runtime;
}
