import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_ENTITIES, defaultTableNames } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { describeOutcome, runCli } from '../support/child-cli.js';
import {
  checkpointsOf,
  expectBalanced,
  expectRowsMatchCommittedCounts,
  exportRunArgs,
  resumeToCompletion,
  runIds,
  runStatus,
  seedManyFiles,
  snapshot,
  temporaryDirectory,
  type TargetSnapshot,
} from './harness.js';
import { missing } from '../support/prerequisites.js';

const skipReason = missing('postgres-server');
if (skipReason) console.warn(`skipping the corrupt export file tests: ${skipReason}`);

const ITEMS_PER_FILE = 100;
const TABLE = defaultTableNames().KpiActual;

describe.skipIf(skipReason !== undefined)('corrupt export files: the run stops naming file and line, keeps what it committed, and resumes once fixed', () => {
  let work: Awaited<ReturnType<typeof temporaryDirectory>>;
  let pristine: string;
  let reference: TargetSnapshot;
  let actualFiles: string[];

  beforeAll(async () => {
    work = await temporaryDirectory('corrupt');
    pristine = path.join(work.dir, 'pristine');
    await seedManyFiles(pristine, { items: 2000, seed: 99, itemsPerFile: ITEMS_PER_FILE });
    actualFiles = (await readdir(path.join(pristine, TABLE))).sort();
    const db = await createTestDatabase();
    try {
      const clean = await runCli(exportRunArgs(pristine, db.url));
      expect(clean.code, describeOutcome(clean)).toBe(0);
      reference = await snapshot(db.sql, (await runIds(db.sql))[0]!);
    } finally {
      await db.drop();
    }
  });

  afterAll(async () => {
    await work?.remove();
  });

  /**
   * Copies the data set, breaks one KpiActual file in the middle of the table, runs, checks the
   * failure and what was committed, puts the good file back, resumes, and compares with the clean run.
   */
  async function breakRunFixResume(
    label: string,
    damage: (gz: Buffer) => Buffer,
    expectMessage: (file: string) => RegExp,
    /** Lines of the broken file read whole before the damage, from the error message. */
    goodLines: (message: RegExpMatchArray) => number,
  ): Promise<void> {
    const dir = path.join(work.dir, label);
    await cp(pristine, dir, { recursive: true });
    const brokenIndex = Math.floor(actualFiles.length / 2);
    const brokenName = actualFiles[brokenIndex]!;
    const brokenPath = path.join(dir, TABLE, brokenName);
    const original = await readFile(brokenPath);
    await writeFile(brokenPath, damage(original));

    const db: TestDatabase = await createTestDatabase();
    try {
      const args = exportRunArgs(dir, db.url);
      const failed = await runCli(args);
      expect(failed.code, describeOutcome(failed)).toBe(3);
      const message = failed.stderr.match(expectMessage(`${TABLE}/${brokenName}`));
      expect(message, failed.stderr.slice(-2000)).not.toBeNull();
      const good = goodLines(message!);
      const runId = (await runIds(db.sql))[0]!;
      expect(await runStatus(db.sql, runId)).toBe('failed');

      // Every batch before the damage is committed (the good lines of the broken file too, when
      // they filled a batch), and nothing after it: rows, counts and checkpoints agree.
      await expectRowsMatchCommittedCounts(db.sql, runId);
      const milestones = await checkpointsOf(db.sql, runId, 'KpiMilestone');
      expect([...milestones.values()].every((c) => c.done)).toBe(true);
      const actuals = await checkpointsOf(db.sql, runId, 'KpiActual');
      const broken = actuals.get(`${TABLE}/${brokenName}`);
      actuals.delete(`${TABLE}/${brokenName}`);
      expect([...actuals.keys()].sort()).toEqual(actualFiles.slice(0, brokenIndex).map((name) => `${TABLE}/${name}`));
      expect([...actuals.values()].every((c) => c.done && c.line === ITEMS_PER_FILE)).toBe(true);
      if (broken !== undefined) expect(broken).toEqual({ done: false, line: good });
      expect((await checkpointsOf(db.sql, runId, 'KpiReading')).size).toBe(0);
      const { rows } = await db.sql.query<{ entity: string; read: string }>(
        `select entity, read::text as read from kpi_migrate.run_counts where run_id = $1::bigint and entity = any($2::text[])`,
        [runId, DATA_ENTITIES],
      );
      const reads = Object.fromEntries(rows.map((r) => [r.entity, Number(r.read)]));
      expect(reads.KpiActual ?? 0).toBe(brokenIndex * ITEMS_PER_FILE + (broken?.line ?? 0));
      expect(reads.KpiMilestone).toBe(reference.accounting.KpiMilestone!.read);

      await writeFile(brokenPath, original);
      await resumeToCompletion(args, runId);
      const after = await snapshot(db.sql, runId);
      expectBalanced(after.accounting);
      expect(after.accounting).toEqual(reference.accounting);
      expect(after.rejects).toEqual(reference.rejects);
      expect(after.rows).toEqual(reference.rows);
    } finally {
      await db.drop();
    }
  }

  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('a truncated .gz: exit 3, SOURCE_CORRUPT naming the file and the line it broke after', async () => {
    await breakRunFixResume(
      'truncated',
      (gz) => gz.subarray(0, Math.floor(gz.length * 0.6)),
      (file) => new RegExp(`kpi-migrate: SOURCE_CORRUPT: export file \\S*${escape(file)}: unreadable after line (\\d+) \\(.*unexpected end`, 'i'),
      (message) => Number(message[1]),
    );
  });

  it('a malformed line: a reject naming the file and line and keeping the line, the run completes (exit 0); once the file is fixed, a new run loads the record', async () => {
    const dir = path.join(work.dir, 'malformed');
    await cp(pristine, dir, { recursive: true });
    const brokenName = actualFiles[Math.floor(actualFiles.length / 2)]!;
    const brokenPath = path.join(dir, TABLE, brokenName);
    const original = await readFile(brokenPath);
    const lines = gunzipSync(original).toString('utf8').split('\n');
    const cut = lines[36]!.slice(0, Math.floor(lines[36]!.length / 2));
    await writeFile(brokenPath, gzipSync(Buffer.from([...lines.slice(0, 36), cut, ...lines.slice(37)].join('\n'))));

    const db: TestDatabase = await createTestDatabase();
    try {
      const args = exportRunArgs(dir, db.url);
      const damaged = await runCli(args);
      expect(damaged.code, describeOutcome(damaged)).toBe(0);
      const runId = (await runIds(db.sql))[0]!;
      expect(await runStatus(db.sql, runId)).toBe('completed');
      const broken = await snapshot(db.sql, runId);
      expectBalanced(broken.accounting);
      expect(broken.accounting.KpiActual).toMatchObject({ read: reference.accounting.KpiActual!.read, rejected: reference.accounting.KpiActual!.rejected + 1 });
      const { rows } = await db.sql.query<{ source_id: string | null; reason: string; attribute: string; message: string; item: string }>(
        `select source_id, reason, attribute, message, item::text as item from kpi_migrate.rejects where run_id = $1::bigint and attribute = 'Item'`,
        [runId],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ source_id: null, reason: 'invalid_value' });
      expect(rows[0]!.message).toMatch(new RegExp(`^Item: line 37 of ${escape(`${TABLE}/${brokenName}`)} is not a DynamoDB JSON item: not JSON \\(`));
      expect(JSON.parse(rows[0]!.item)).toEqual({ line: cut });

      await writeFile(brokenPath, original);
      const fixed = await runCli(args);
      expect(fixed.code, describeOutcome(fixed)).toBe(0);
      const fixedRun = (await runIds(db.sql)).at(-1)!;
      expect(fixedRun).not.toBe(runId);
      const after = await snapshot(db.sql, fixedRun);
      const figures = (accounting: TargetSnapshot['accounting']) =>
        Object.fromEntries(Object.entries(accounting).map(([entity, c]) => [entity, { read: c.read, migrated: c.migrated, rejected: c.rejected, skipped: c.skipped }]));
      expect(figures(after.accounting)).toEqual(figures(reference.accounting));
      expect(after.rejects).toEqual(reference.rejects);
      expect(after.rows).toEqual(reference.rows);
    } finally {
      await db.drop();
    }
  });
});
