import { describe, expect, it } from 'vitest';
import { cli, show } from './cli-process.js';

// Nothing listens here: every case must be refused before the CLI reaches for a database or DynamoDB.
const NOWHERE = ['--database-url', 'postgres://nobody@127.0.0.1:1/none', '--dynamodb-endpoint', 'http://127.0.0.1:1', '--region', 'local'];
const WORKER = ['--source', 'dynamodb', '--segments', '8', ...NOWHERE];

describe('run --worker K/N --run RUN: usage errors (exit 2, nothing done)', () => {
  it.each([
    ['K above N', [...WORKER, '--worker', '3/2', '--run', 'cutover'], /USAGE: --worker must be K\/N, whole numbers with 1 ≤ K ≤ N/],
    ['K of 0', [...WORKER, '--worker', '0/4', '--run', 'cutover'], /USAGE: --worker must be K\/N/],
    ['not a fraction', [...WORKER, '--worker', '2', '--run', 'cutover'], /USAGE: --worker must be K\/N/],
    ['a fraction of decimals', [...WORKER, '--worker', '1.5/4', '--run', 'cutover'], /USAGE: --worker must be K\/N/],
    ['a label that is neither id nor label', [...WORKER, '--worker', '1/4', '--run', '4th-run'], /USAGE: not a run id or label: "4th-run"/],
    ['--worker without --run', [...WORKER, '--worker', '1/4'], /USAGE: [^\n]*:\s+worker -> run/],
    // Without --worker, --run LABEL starts or continues one process's run (test/faults/run-label-restart.db.test.ts).
    ['--run with --resume, without --worker', [...WORKER, '--run', 'cutover', '--resume', '3'], /USAGE: Arguments run and resume are mutually exclusive/],
    ['--run with --dry-run, without --worker', [...WORKER, '--run', 'cutover', '--dry-run'], /USAGE: --run names a run that the same command continues; a dry run cannot be continued/],
    ['--worker with --resume', [...WORKER, '--worker', '1/4', '--run', 'cutover', '--resume', '3'], /USAGE: Arguments worker and resume are mutually exclusive/],
    ['another source', ['--source', 'export', '--export-dir', '/nowhere', ...NOWHERE, '--worker', '1/4', '--run', 'cutover'], /USAGE: --worker splits DynamoDB scan segments: it needs --source dynamodb/],
    ['no explicit --segments', ['--source', 'dynamodb', ...NOWHERE, '--worker', '1/4', '--run', 'cutover'], /USAGE: --worker needs an explicit --segments/],
    ['a dry run', [...WORKER, '--worker', '1/4', '--run', 'cutover', '--dry-run'], /USAGE: --worker cannot be combined with --dry-run/],
  ])('%s', async (_case, args, message) => {
    const result = await cli(['run', ...args]);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
