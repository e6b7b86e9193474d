import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { writeBatch } from '../../src/load/batch-writer.js';
import {
  findRun,
  finishRun,
  lastUnfinishedRun,
  loadCheckpoints,
  parseRunReference,
  recordLookupOutcome,
  resumeRun,
  runCounts,
  startOrFindLabelledRun,
  startRun,
} from '../../src/load/ledger.js';
import { listRejects } from '../../src/load/rejects.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { dataBatch, linkBatch, linkRecord, newRun } from './fixtures.js';

describe('run ledger', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('starts a run and finds it with what was recorded', async () => {
    const runId = await startRun(db.sql, {
      environment: 'staging',
      sourceKind: 'export',
      targetSchema: 'public',
      options: { tenant: null, batchRows: 5000, note: 'nul \u0000 inside' },
      codeVersion: '1.2.3',
      configHash: 'abc123',
      dryRun: true,
    });
    expect(runId).toMatch(/^[1-9][0-9]*$/);
    const run = await findRun(db.sql, runId);
    expect(run).toMatchObject({
      id: runId,
      environment: 'staging',
      sourceKind: 'export',
      targetSchema: 'public',
      options: { tenant: null, batchRows: 5000, note: 'nul \\u0000 inside' },
      codeVersion: '1.2.3',
      configHash: 'abc123',
      status: 'running',
      dryRun: true,
      finishedAt: null,
      error: null,
    });
    expect(run!.startedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(await findRun(db.sql, '999999')).toBeUndefined();
    expect(await findRun(db.sql, 'not-a-number')).toBeUndefined();
  });

  it('a label names one run: callers arriving at once under it get the same run, created once', async () => {
    const start = { environment: 'local', sourceKind: 'dynamodb', targetSchema: 'public', options: { workers: 8 }, codeVersion: '1.2.3', configHash: 'abc123', dryRun: false };
    const arrivals = await Promise.all(Array.from({ length: 8 }, () => startOrFindLabelledRun(db.sql, 'june-cutover', start)));
    expect(new Set(arrivals.map((a) => a.run.id)).size).toBe(1);
    expect(arrivals.filter((a) => a.created)).toHaveLength(1);
    expect(arrivals[0]!.run).toMatchObject({ label: 'june-cutover', status: 'running', sourceKind: 'dynamodb', options: { workers: 8 } });
    // Found again later, whatever state it is in, and never replaced.
    await finishRun(db.sql, arrivals[0]!.run.id, 'completed');
    expect(await startOrFindLabelledRun(db.sql, 'june-cutover', start)).toMatchObject({ created: false, run: { id: arrivals[0]!.run.id, status: 'completed' } });
    expect((await findRun(db.sql, await startRun(db.sql, start)))?.label).toBeNull();
  });

  it('reads a run reference as an id (digits) or a label (a letter first), and refuses anything else', () => {
    expect(parseRunReference('412')).toEqual({ id: '412' });
    expect(parseRunReference('june-cutover.2_b')).toEqual({ label: 'june-cutover.2_b' });
    for (const bad of ['', '0', '412a', '-x', 'a b', "x'; drop table runs", 'a'.repeat(64)]) {
      expect(() => parseRunReference(bad), bad).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
  });

  it('finishes runs only along the allowed transitions, keeping the error', async () => {
    const completed = await newRun(db.sql);
    await finishRun(db.sql, completed, 'completed');
    expect(await findRun(db.sql, completed)).toMatchObject({ status: 'completed', finishedAt: expect.stringMatching(/Z$/) });
    // Finishing comes after the checks a command makes first: a run in another state by now was changed by another process (exit 3).
    await expect(finishRun(db.sql, completed, 'failed')).rejects.toMatchObject({ code: 'RUN_CHANGED', message: `run ${completed} is completed: it cannot be marked failed` });
    await expect(finishRun(db.sql, '999999', 'completed')).rejects.toMatchObject({ code: 'RUN_CHANGED', message: 'run 999999 does not exist' });

    const failed = await newRun(db.sql);
    const cause = Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
    await finishRun(db.sql, failed, 'failed', new MigrateError('TARGET_UNAVAILABLE', 'lost the database', { cause }));
    expect((await findRun(db.sql, failed))!.error).toEqual({
      name: 'MigrateError',
      message: 'lost the database',
      code: 'TARGET_UNAVAILABLE',
      cause: { name: 'Error', message: 'connection reset', code: 'ECONNRESET' },
    });
    await finishRun(db.sql, failed, 'rolled_back');
    expect(await findRun(db.sql, failed)).toMatchObject({ status: 'rolled_back' });
    await expect(finishRun(db.sql, failed, 'rolled_back')).rejects.toMatchObject({ code: 'RUN_CHANGED' });
  });

  it('offers the newest run for resuming only while it is unfinished, and resumes a failed one', async () => {
    const older = await newRun(db.sql);
    const newest = await newRun(db.sql);
    expect((await lastUnfinishedRun(db.sql))?.id).toBe(newest);
    await finishRun(db.sql, newest, 'failed', { code: 'SOURCE_UNAVAILABLE', message: 'DynamoDB went away' });
    expect(await lastUnfinishedRun(db.sql)).toMatchObject({ id: newest, status: 'failed', error: { message: 'DynamoDB went away' } });
    expect(await resumeRun(db.sql, newest)).toMatchObject({ id: newest, status: 'running', finishedAt: null, error: null });
    await finishRun(db.sql, newest, 'completed');
    // The older run never finished, but a newer run superseded it.
    expect(await lastUnfinishedRun(db.sql)).toBeUndefined();
    expect((await findRun(db.sql, older))!.status).toBe('running');
    await expect(resumeRun(db.sql, newest)).rejects.toMatchObject({ code: 'RUN_STATE' });
    expect((await lastUnfinishedRun(db.sql, { environment: 'elsewhere' }))).toBeUndefined();
  });

  it('brings checkpoint positions back exactly, even ones jsonb could not hold as they are', async () => {
    const run = await newRun(db.sql);
    const awkward = { Id: { S: 'key with \u0000 and \uD800 inside' }, Line: 12 };
    const plain = { file: 'data/part-0001.json.gz', line: 123456, key: { N: '12345678901234567890.5' } };
    await writeBatch(db.sql, linkBatch(run, [linkRecord(1)], {
      checkpoints: [
        { partition: 'a', position: awkward, done: false },
        { partition: 'b', position: plain, done: false },
        { partition: 'c', position: null, done: true },
      ],
    }));
    expect(await loadCheckpoints(db.sql, run, 'GoalKpiLink')).toEqual({
      a: { position: awkward, done: false },
      b: { position: plain, done: false },
      c: { position: null, done: true },
    });
  });

  it('counts a run per entity with its rejects by reason', async () => {
    const run = await newRun(db.sql);
    await writeBatch(db.sql, linkBatch(run, [linkRecord(20), linkRecord(21)], {
      personFallbacks: 1,
      skipped: 1,
      mappingRejects: [
        { sourceEntity: 'GoalKpiLink', sourceId: 'bad-1', reason: 'invalid_id', attribute: 'KpiId', message: 'KpiId is not a GUID', item: { Id: 'bad-1' } },
        { sourceEntity: 'GoalKpiLink', sourceId: 'bad-2', reason: 'unknown_enum', attribute: 'LinkType', message: 'LinkType x', item: { Id: 'bad-2' } },
      ],
    }));
    await writeBatch(db.sql, dataBatch(run, 'KpiReading', [], { read: 0 }));
    const counts = await runCounts(db.sql, run);
    expect(counts.runId).toBe(run);
    expect(counts.entities.GoalKpiLink).toEqual({
      read: 5, migrated: 2, rejected: 2, skipped: 1, rowsOut: 2, inserted: 2, updated: 0, unchanged: 0, deleted: 0,
      personFallbacks: 1, rejectsByReason: { invalid_id: 1, unknown_enum: 1 },
    });
    expect(counts.entities.KpiReading).toMatchObject({ read: 0, migrated: 0 });
    expect(counts.entities.KpiActual).toBeUndefined();
    await expect(runCounts(db.sql, '999999')).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' });
  });

  it('records a lookup outcome once per run, however often the run resumes', async () => {
    const run = await newRun(db.sql);
    const reject = { sourceEntity: 'Kpi' as const, sourceId: 'k-1', reason: 'invalid_id' as const, attribute: 'Id', message: 'Id is not a GUID', item: { Id: 'k-1' } };
    for (let attempt = 0; attempt < 2; attempt++) {
      await recordLookupOutcome(db.sql, run, 'Kpi', { read: 10, used: 9, rejects: [reject] });
    }
    expect((await runCounts(db.sql, run)).entities.Kpi).toMatchObject({ read: 10, migrated: 9, rejected: 1, rejectsByReason: { invalid_id: 1 } });
    expect(await listRejects(db.sql, { runId: run, limit: 10 })).toHaveLength(1);
    await expect(recordLookupOutcome(db.sql, run, 'Person', { read: 3, used: 1, rejects: [] })).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
