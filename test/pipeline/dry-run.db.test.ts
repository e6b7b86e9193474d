import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunCounts } from '../../src/load/ledger.js';
import type { SqlSession } from '../../src/db/sql-client.js';
import type { RunResult } from '../../src/pipeline/run.js';
import { LEGACY_ENTITIES } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { expectedOutcome } from '../support/fixtures.js';
import { rejectKeys, targetRows } from '../support/target-rows.js';
import { FIXTURE_EXPORT, applyChanges, chooseChanges, migrateExport, readExport, writeExport } from './changed-export.js';


/** The run's accounting as the summary prints it, per entity. */
function accounting(counts: RunCounts) {
  return Object.fromEntries(
    LEGACY_ENTITIES.map((entity) => {
      const c = counts.entities[entity];
      return [entity, c === undefined ? undefined : { ...c, rejectsByReason: Object.fromEntries(Object.entries(c.rejectsByReason).sort()) }];
    }),
  );
}

async function written(sql: SqlSession) {
  const { rows } = await sql.query<Record<string, string>>(
    `select (select count(*) from kpi_migrate.rejects)::text as rejects, (select count(*) from kpi_migrate.run_counts)::text as run_counts,
            (select count(*) from kpi_migrate.checkpoints)::text as checkpoints, (select count(*) from kpi_migrate.row_history)::text as row_history`,
  );
  return { rows: await targetRows(sql), ledger: rows[0] };
}

describe('run --dry-run', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const database = async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    return db;
  };

  describe('on an empty target', () => {
    let db: TestDatabase;
    let dry: RunResult;
    beforeAll(async () => {
      db = await database();
      dry = await migrateExport(db, FIXTURE_EXPORT, { dryRun: true });
    });

    it('writes no data rows, rejects, counts, checkpoints or row history; the ledger records a completed dry run', async () => {
      expect(await written(db.sql)).toEqual({
        rows: { links: [], data: [] },
        ledger: { rejects: '0', run_counts: '0', checkpoints: '0', row_history: '0' },
      });
      const { rows } = await db.sql.query<{ id: string; status: string; dry_run: boolean }>(`select id::text as id, status, dry_run from kpi_migrate.runs`);
      expect(rows).toEqual([{ id: dry.runId, status: 'completed', dry_run: true }]);
      // What the dry run does see right: every table read whole, the links it would insert.
      const expected = expectedOutcome();
      for (const entity of LEGACY_ENTITIES) expect(dry.counts.entities[entity]?.read, entity).toBe(expected.tables[entity].read);
      expect(dry.counts.entities.GoalKpiLink).toMatchObject({ migrated: expected.tables.GoalKpiLink.migrated, inserted: expected.kpiLinks, updated: 0 });
      // The data rows see the links rehearsed before them, and a later entity the rows of an earlier one.
      for (const entity of ['KpiMilestone', 'KpiActual', 'KpiReading'] as const) {
        expect(dry.counts.entities[entity]?.rejectsByReason, entity).toEqual(expected.tables[entity].rejected);
      }
    });

    it('reports the accounting of the real run that follows: the same would-be inserts and rejects', async () => {
      const real = await migrateExport(db, FIXTURE_EXPORT);
      expect(accounting(dry.counts)).toEqual(accounting(real.counts));
    });
  });

  describe('on a target that holds a first run', () => {
    let db: TestDatabase;
    let changedExport: string;
    beforeAll(async () => {
      db = await database();
      await migrateExport(db, FIXTURE_EXPORT);
      changedExport = await mkdtemp(path.join(tmpdir(), 'kpi-migrate-dry-run-'));
      cleanups.push(() => rm(changedExport, { recursive: true, force: true }));
      await writeExport(changedExport, applyChanges(await readExport(FIXTURE_EXPORT), await chooseChanges(db.sql)));
    });

    it('a dry re-run of the same input reports 0 inserted, 0 updated and the same rejects as the real re-run, and writes nothing', async () => {
      const before = await written(db.sql);
      const dry = await migrateExport(db, FIXTURE_EXPORT, { dryRun: true });
      expect(await written(db.sql)).toEqual(before);
      const real = await migrateExport(db, FIXTURE_EXPORT);
      expect(await rejectKeys(db.sql, dry.runId)).toEqual([]);
      for (const entity of ['GoalKpiLink', 'KpiMilestone', 'KpiActual', 'KpiReading'] as const) {
        expect(dry.counts.entities[entity], entity).toMatchObject({ inserted: 0, updated: 0, unchanged: real.counts.entities[entity]!.rowsOut });
        expect(dry.counts.entities[entity]!.rejectsByReason, entity).toEqual(real.counts.entities[entity]!.rejectsByReason);
      }
      expect(accounting(dry.counts)).toEqual(accounting(real.counts));
    });

    it('a dry run of a changed export (a new link, changed values, a link gone) reports what the real run then does', async () => {
      const before = await written(db.sql);
      const dry = await migrateExport(db, changedExport, { dryRun: true });
      expect(await written(db.sql)).toEqual(before);
      const real = await migrateExport(db, changedExport);
      expect(real.counts.entities.GoalKpiLink!.inserted).toBe(1);
      expect(accounting(dry.counts)).toEqual(accounting(real.counts));
    });
  });
});
