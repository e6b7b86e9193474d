import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor } from '../../src/cli/exit.js';
import { ERROR_CODES, MigrateError, type ErrorCode } from '../../src/errors.js';
import { targetFailure } from '../../src/db/database-error.js';

/** What pg's DatabaseError carries: a SQLSTATE and a server severity. */
function serverError(sqlstate: string, message: string): Error {
  return Object.assign(new Error(message), { code: sqlstate, severity: 'ERROR' });
}

describe('exit codes: what a Job should do next', () => {
  it('a bug is exit 4, not "fix and resume": an INTERNAL error, and anything that is not a MigrateError at all', () => {
    expect(EXIT.internal).toBe(4);
    expect(exitCodeFor(new MigrateError('INTERNAL', 'a run cannot be finished as paused'))).toBe(4);
    expect(exitCodeFor(new TypeError("Cannot read properties of undefined (reading 'Id')"))).toBe(4);
    expect(exitCodeFor(new RangeError('Maximum call stack size exceeded'))).toBe(4);
    expect(exitCodeFor('a string thrown')).toBe(4);
  });

  it('a run changed under the process mid-run is exit 3 (the same command may succeed), a run the command cannot use is exit 2', () => {
    expect(exitCodeFor(new MigrateError('RUN_CHANGED', 'run 7 is rolled_back: it takes no more batches'))).toBe(3);
    expect(exitCodeFor(new MigrateError('RUN_STATE', 'run 7 is rolled_back: it cannot be resumed'))).toBe(2);
    expect(exitCodeFor(new MigrateError('RUN_NOT_FOUND', 'run 7 does not exist'))).toBe(2);
  });

  it('every code has one of 2, 3, 4; only INTERNAL is 4', () => {
    const byExit = new Map<number, ErrorCode[]>();
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const exit = exitCodeFor(new MigrateError(code, 'x'));
      byExit.set(exit, [...(byExit.get(exit) ?? []), code]);
    }
    expect([...byExit.keys()].sort()).toEqual([2, 3, 4]);
    expect(byExit.get(4)).toEqual(['INTERNAL']);
    expect(byExit.get(2)!.sort()).toEqual(['CONFIG_INVALID', 'CONVERGE_REFUSED', 'RUN_NOT_FOUND', 'RUN_STATE', 'SYNC_REFUSED', 'TARGET_INCOMPATIBLE', 'USAGE']);
  });

  it('the target: a refusal that may pass on a retry is 3, another refusal of the server 3, an error from no server a bug (4)', () => {
    for (const [sqlstate, message] of [
      ['40P01', 'deadlock detected'],
      ['40001', 'could not serialize access due to concurrent update'],
      ['55P03', 'could not obtain lock on relation "kpi_links"'],
      ['57P01', 'terminating connection due to administrator command'],
      ['53300', 'sorry, too many clients already'],
      ['XX000', 'could not read block 7 in file "base/16384/16385"'],
    ] as const) {
      const failure = targetFailure(serverError(sqlstate, message), 'run 7');
      expect(failure.code, sqlstate).toBe('TARGET_UNAVAILABLE');
      expect(exitCodeFor(failure), sqlstate).toBe(3);
    }
    const trigger = targetFailure(serverError('P0001', 'kpi_data is frozen for the audit'), 'run 7');
    expect(trigger).toMatchObject({ code: 'TARGET_REFUSED', message: 'run 7: kpi_data is frozen for the audit', details: { sqlstate: 'P0001' } });
    expect(exitCodeFor(trigger)).toBe(3);
    expect(targetFailure(serverError('42703', 'column "label" does not exist'), 'run 7').code).toBe('TARGET_SCHEMA');
    const bug = targetFailure(new TypeError("Cannot read properties of undefined (reading 'rows')"), 'run 7');
    expect(bug.code).toBe('INTERNAL');
    expect(exitCodeFor(bug)).toBe(4);
  });
});
