import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { createExportSource } from '../../src/extract/export-source.js';
import { packageRoot } from '../../src/package-root.js';
import { createRecordReader, type MappedBatch, type RecordReader } from '../../src/pipeline/record-reader.js';
import { defaultTableNames, MIGRATED_ENTITIES } from '../../src/model/entities.js';
import { migrate } from '../../src/pipeline/migrate.js';
import { CLI_ENTRY, startCli } from '../support/child-cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { missing } from '../support/prerequisites.js';
import { SMALL_FIXTURES } from '../support/fixtures.js';
import { rejectKeys, targetRows } from '../support/target-rows.js';

// The worker thread runs compiled JavaScript: these tests use the build (`npm test` makes it first).
const BUILT_READER = path.join(packageRoot, 'dist', 'src', 'pipeline', 'worker-reader.js');
const EXPORT_DIR = path.join(SMALL_FIXTURES, 'export');

type WorkerReaderModule = typeof import('../../src/pipeline/worker-reader.js');

async function builtWorkerReader(): Promise<WorkerReaderModule> {
  if (!existsSync(BUILT_READER)) throw new Error(`${BUILT_READER} is missing: run \`npm run build\` first (\`npm test\` does)`);
  return (await import(BUILT_READER)) as WorkerReaderModule;
}

/** The configuration of a reader of export files alone: the database it names is never reached. */
function readingConfig(exportDir = EXPORT_DIR) {
  return resolveConfig({ env: {}, overrides: { source: 'export', exportDir, databaseUrl: 'postgres://unused@127.0.0.1:1/unused' } });
}

/** Everything a batch says, items decoded: what must not change across the thread boundary. */
async function contentOf(batch: MappedBatch) {
  return {
    read: batch.read,
    skipped: batch.skipped,
    personFallbacks: batch.personFallbacks,
    checkpoints: batch.checkpoints,
    runId: batch.prepared.runId,
    records: await Promise.all(
      batch.prepared.records.map(async (record) => ({ sourceId: record.sourceId, rowIds: record.rowIds, copyText: record.copyText, item: await record.item() })),
    ),
    encodingRejects: batch.prepared.encodingRejects,
    mappingRejects: batch.mappingRejects,
  };
}

async function everything(reader: RecordReader) {
  const lookups = await reader.readLookups(() => {});
  const entities: Record<string, Awaited<ReturnType<typeof contentOf>>[]> = {};
  for (const entity of MIGRATED_ENTITIES) {
    entities[entity] = [];
    for await (const batch of reader.batches(entity, {}, { indexLinks: entity === 'GoalKpiLink', runId: '7' })) {
      entities[entity].push(await contentOf(batch));
      batch.written?.();
    }
  }
  return { lookups, entities };
}

describe('reading and mapping in a worker thread', () => {
  it('gives the batches, records, items and rejects of reading in this thread', async () => {
    const { createWorkerRecordReader } = await builtWorkerReader();
    const config = readingConfig();
    const source = createExportSource({ dir: EXPORT_DIR, tableNames: defaultTableNames() });
    // Small batches: several per table, so that batches ahead of the writer and item requests for
    // batches not yet written are exercised.
    const here = createRecordReader({ source, wholeTables: source, batchRows: 40 });
    const there = createWorkerRecordReader({ config, batchRows: 40 });
    try {
      const [expected, got] = [await everything(here), await everything(there)];
      expect(got.entities.KpiActual!.length).toBeGreaterThan(1);
      expect(got).toEqual(expected);
    } finally {
      await here.close();
      await there.close();
    }
  });

  it("says when it has read an entity's last page, while its last batches still wait for the writer", async () => {
    const { createWorkerRecordReader } = await builtWorkerReader();
    const config = readingConfig();
    const reader = createWorkerRecordReader({ config, batchRows: 40 });
    try {
      await reader.readLookups(() => {});
      await reader.indexLinks(() => {});
      let taken = 0;
      const takenWhenRead: number[] = [];
      for await (const batch of reader.batches('KpiActual', {}, { indexLinks: false, runId: '7', whenRead: () => takenWhenRead.push(taken) })) {
        taken += 1;
        // A writer slower than the reader: the worker finishes while batches are still to be taken.
        await new Promise((resolve) => setTimeout(resolve, 50));
        batch.written?.();
      }
      expect(taken).toBeGreaterThan(2);
      expect(takenWhenRead).toHaveLength(1);
      expect(takenWhenRead[0]).toBeLessThan(taken);
    } finally {
      await reader.close();
    }
  });

  it('reads the lookups before they are asked for (startLookups): readLookups gives what it reads when asked, progress and all', async () => {
    const { createWorkerRecordReader } = await builtWorkerReader();
    const config = readingConfig();
    const started = createWorkerRecordReader({ config, batchRows: 40 });
    const asked = createWorkerRecordReader({ config, batchRows: 40 });
    try {
      started.startLookups!();
      // Time to read them all before they are asked for: their progress then waits for readLookups' sink.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const progress: Record<'started' | 'asked', unknown[]> = { started: [], asked: [] };
      const seen = (into: unknown[]) => (update: Parameters<Parameters<RecordReader['readLookups']>[0]>[0]) =>
        into.push({ entity: update.entity, phase: update.phase, read: update.read, migrated: update.migrated, rejected: update.rejected, done: update.done });
      const outcomes = { started: await started.readLookups(seen(progress.started)), asked: await asked.readLookups(seen(progress.asked)) };
      expect(outcomes.started.map((outcome) => outcome.entity)).toEqual(['Kpi', 'Person']);
      expect(outcomes.started).toEqual(outcomes.asked);
      expect(progress.started.filter((update) => (update as { done: boolean }).done)).toHaveLength(2);
      expect(progress.started).toEqual(progress.asked);
      // And the rest reads as usual after them.
      await started.indexLinks(() => {});
      let batches = 0;
      for await (const batch of started.batches('KpiActual', {}, { indexLinks: false, runId: '7' })) {
        batches += 1;
        batch.written?.();
      }
      expect(batches).toBeGreaterThan(1);
    } finally {
      await started.close();
      await asked.close();
    }
  });

  it('closes when the run ends before it asks for the lookups it started, and throws a failure of theirs where they are asked for', async () => {
    const { createWorkerRecordReader } = await builtWorkerReader();
    const config = readingConfig();
    const unasked = createWorkerRecordReader({ config, batchRows: 40 });
    unasked.startLookups!();
    await unasked.close();
    const missingDir = readingConfig(path.join(SMALL_FIXTURES, 'no-such-dir'));
    const failing = createWorkerRecordReader({ config: missingDir, batchRows: 40 });
    try {
      failing.startLookups!();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await expect(failing.readLookups(() => {})).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE', message: expect.stringMatching(/does not exist/) });
    } finally {
      await failing.close();
    }
  });

  it('fails with the error the reading met, code and all', async () => {
    const { createWorkerRecordReader } = await builtWorkerReader();
    const config = readingConfig(path.join(SMALL_FIXTURES, 'no-such-dir'));
    const reader = createWorkerRecordReader({ config, batchRows: 150 });
    try {
      await expect(reader.readLookups(() => {})).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE', message: expect.stringMatching(/does not exist/) });
    } finally {
      await reader.close();
    }
  });
});

// The CLI writes into its own connections: PGlite (in this process) cannot be shared with it.
describe.skipIf(missing('postgres-server'))('the built CLI, reading in its worker thread', () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.drop();
  });

  it('ends with the rows, rejects and accounting of a run that reads in one thread', async () => {
    const [inThread, cli] = [await createTestDatabase(), await createTestDatabase()];
    databases.push(inThread, cli);
    const config = resolveConfig({ env: {}, overrides: { source: 'export', exportDir: EXPORT_DIR, databaseUrl: inThread.url, batchRows: 150 } });
    const alone = await migrate(config, { workerThreads: false });
    expect(alone.accountingBalanced).toBe(true);

    expect(existsSync(path.join(path.dirname(CLI_ENTRY), '..', 'pipeline', 'transform-worker.js'))).toBe(true);
    const outcome = await startCli(['run', '--source', 'export', '--export-dir', EXPORT_DIR, '--database-url', cli.url, '--batch-rows', '150']).exited;
    expect(outcome.code, outcome.stderr).toBe(0);

    expect(await targetRows(cli.sql)).toEqual(await targetRows(inThread.sql));
    const lastRun = async (db: TestDatabase) => (await db.sql.query<{ id: string }>('select max(id)::text as id from kpi_migrate.runs')).rows[0]!.id;
    expect(await rejectKeys(cli.sql, await lastRun(cli))).toEqual(await rejectKeys(inThread.sql, alone.runId));
    const counts = async (db: TestDatabase, runId: string) =>
      (await db.sql.query('select entity, read, migrated, rejected, skipped, rows_out, inserted, person_fallbacks from kpi_migrate.run_counts where run_id = $1::bigint order by entity', [runId])).rows;
    expect(await counts(cli, await lastRun(cli))).toEqual(await counts(inThread, alone.runId));
  });
});
