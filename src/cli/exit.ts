import { ERROR_CODES, MigrateError, coerceError } from '../errors.js';

/** The tool's exit codes (README): the only place they are chosen. */
export const EXIT = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  runtime: 3,
} as const;

export function exitCodeFor(error: unknown): number {
  const failure = error instanceof MigrateError ? error : coerceError(error);
  return ERROR_CODES[failure.code] === 'usage' ? EXIT.usage : EXIT.runtime;
}
