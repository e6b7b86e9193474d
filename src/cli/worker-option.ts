import { MigrateError } from '../errors.js';
import { parseRunReference } from '../load/ledger.js';

/** Workers beyond the most segments a run may have would never get one. */
const MOST_WORKERS = 1_000_000;

/** `--worker K/N`: this process is worker K of N, whole numbers with 1 ≤ K ≤ N. */
export function parseWorkerShare(text: string): { index: number; count: number } {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || index < 1 || index > count || count > MOST_WORKERS) {
    throw new MigrateError('USAGE', `--worker must be K/N, whole numbers with 1 ≤ K ≤ N ≤ ${MOST_WORKERS}, got ${JSON.stringify(text)}`);
  }
  return { index, count };
}

/** `--run RUN`: checked here so that a mistyped label fails before anything is read. */
export function parseSharedRun(text: string): string {
  parseRunReference(text);
  return text;
}
