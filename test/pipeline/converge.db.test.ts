import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { finalizeTarget } from '../../src/load/finalize.js';
import { loadMigrations } from '../../src/load/migrate.js';
import { rollbackRun } from '../../src/load/rollback.js';
import { parseDeleteLimit } from '../../src/load/sweep.js';
import type { SqlClient, SqlSession } from '../../src/db/sql-client.js';
import type { RunResult } from '../../src/pipeline/run.js';
import type { LegacyItem } from '../../src/model/legacy-value.js';
import { KPI_DATA_COLUMNS, KPI_LINK_COLUMNS } from '../../src/model/rows.js';
import { createExportSource } from '../../src/extract/export-source.js';
import { validate, expectClean } from '../validate/harness.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { rejectKeys, targetRows } from '../support/target-rows.js';
import { FIXTURE_EXPORT, TABLE_NAMES, applyChanges, chooseChanges, migrateExport, readExport, writeExport, type LegacyTables } from './changed-export.js';

const KPI_DATA_SOURCE_ENTITY = KPI_DATA_COLUMNS.indexOf('source_entity');
const APP_LINK = 'eeeeeeee-0000-4000-8000-0000000000d1';
const APP_ROWS = ['eeeeeeee-0000-4000-8000-0000000000d2', 'eeeeeeee-0000-4000-8000-0000000000d3'];

/** The migration's rows only: those the application wrote have no provenance. */
async function migratedRows(sql: SqlSession): Promise<Awaited<ReturnType<typeof targetRows>>> {
  const rows = await targetRows(sql);
  const links = KPI_LINK_COLUMNS.indexOf('source_entity');
  return { links: rows.links.filter((row) => row[links] !== '∅'), data: rows.data.filter((row) => row[KPI_DATA_SOURCE_ENTITY] !== '∅') };
}

/** Rows as the live application inserts them (no provenance, no run): a link, a row on it, a row on a migrated link. */
async function insertApplicationRows(sql: SqlSession, migratedLink: string): Promise<void> {
  await sql.query(
    `insert into public.kpi_links (id, tenant_id, kpi_id, person_id, link_type, is_primary, created_by, created_at)
     select $1, tenant_id, kpi_id, person_id, 'monitoring', false, person_id, now() from public.kpi_links where id = $2`,
    [APP_LINK, migratedLink],
  );
  for (const [id, link] of [[APP_ROWS[0], APP_LINK], [APP_ROWS[1], migratedLink]]) {
    await sql.query(
      `insert into public.kpi_data (id, kpi_link_id, data_category, actual_subtype, post_value, post_date) values ($1, $2, 'actual', 'measured', 3.5, now())`,
      [id, link],
    );
  }
}

async function applicationRows(sql: SqlSession): Promise<string[]> {
  const { rows } = await sql.query<{ r: string }>(
    `select 'kpi_links ' || id || ' ' || link_type as r from public.kpi_links where source_entity is null
     union all select 'kpi_data ' || id || ' ' || kpi_link_id || ' ' || post_value from public.kpi_data where source_entity is null order by 1`,
  );
  return rows.map((row) => row.r);
}

const NEW_OWNER = 'eeeeeeee-0000-4000-8000-0000000000b1';
const HEALING_LINK = 'eeeeeeee-0000-4000-8000-0000000000c1';

const str = (item: LegacyItem, attribute: string): string => String(item[attribute]);

/**
 * State B: state A changed in every way contract §5 names — a link gone, one reweighted, one new
 * and primary (the primary of its KPI flips), one moved to another KPI; a KPI's owner changed; a
 * milestone deleted; an actual that no longer maps; actuals revalued and one new; a fact rejected
 * no_kpi_link whose KPI gains a link; the winner of every id_conflict gone.
 */
async function stateB(sql: SqlSession, runA: string, tables: LegacyTables): Promise<LegacyTables> {
  const changes = await chooseChanges(sql);
  const b = applyChanges(tables, changes);
  const { rows: conflicts } = await sql.query<{ source_id: string }>(
    `select source_id from kpi_migrate.rejects where run_id = $1 and reason = 'id_conflict'`,
    [runA],
  );
  const { rows: winners } = await sql.query<{ source_entity: string; source_id: string }>(
    `select distinct source_entity, source_id from public.kpi_data where id::text = any($1::text[])`,
    [`{${conflicts.map((c) => c.source_id.toLowerCase().replace(/[{}]/g, '')).join(',')}}`],
  );
  expect(winners.length).toBeGreaterThan(0);
  const gone = new Set(winners.map((w) => `${w.source_entity} ${w.source_id}`));
  const { rows: unlinked } = await sql.query<{ source_entity: 'KpiMilestone' | 'KpiActual' | 'KpiReading'; source_id: string }>(
    `select source_entity, source_id from kpi_migrate.rejects where run_id = $1 and reason = 'no_kpi_link' order by 1, 2 limit 1`,
    [runA],
  );
  const healed = b[unlinked[0]!.source_entity].find((i) => i.Id === unlinked[0]!.source_id)!;
  const linkTemplate = b.GoalKpiLink[0]!;
  const moved = b.GoalKpiLink[4]!;
  const links = b.GoalKpiLink.map((link, at) => (at === 1 ? { ...link, KpiId: str(moved, 'KpiId'), TenantId: str(moved, 'TenantId') } : link));
  links.push({ ...linkTemplate, Id: HEALING_LINK, TenantId: str(healed, 'TenantId'), KpiId: str(healed, 'KpiId'), IsPrimary: false });
  // A KPI that links of B reference (same tenant), so that its new owner reaches their person_id.
  const canonical = (value: string): string => value.toLowerCase().replace(/[{}]/g, '');
  const ownedKpi = b.Kpi.find((kpi) =>
    links.some((link) => canonical(str(link, 'KpiId')) === canonical(str(kpi, 'Id')) && canonical(str(link, 'TenantId')) === canonical(str(kpi, 'TenantId'))),
  );
  expect(ownedKpi).toBeDefined();
  const keep = (entity: string) => (item: LegacyItem) => !gone.has(`${entity} ${String(item.Id)}`);
  return {
    ...b,
    Kpi: b.Kpi.map((kpi) => (kpi === ownedKpi ? { ...kpi, OwnerId: NEW_OWNER } : kpi)),
    GoalKpiLink: links,
    KpiMilestone: b.KpiMilestone.filter(keep('KpiMilestone')).filter((_, at) => at !== 0),
    KpiActual: b.KpiActual.filter(keep('KpiActual')).map((item, at) => {
      if (at !== 5) return item;
      const { ActualValue: _dropped, ...rest } = item;
      return rest;
    }),
    KpiReading: b.KpiReading.filter(keep('KpiReading')),
  };
}

/** Each record of the run, migrated or rejected for a reason, as a fresh run would list it. */
async function outcomes(sql: SqlSession, runId: string): Promise<string[]> {
  return rejectKeys(sql, runId);
}

describe('run --converge on a changed source (the runner)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  let dir: string;
  let converged: TestDatabase;
  let fresh: TestDatabase;
  let runA: RunResult;
  let runB: RunResult;
  let freshB: RunResult;
  let targetA: Awaited<ReturnType<typeof targetRows>>;
  let applicationA: string[];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-converge-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    converged = await createTestDatabase();
    cleanups.push(() => converged.drop());
    fresh = await createTestDatabase();
    cleanups.push(() => fresh.drop());

    runA = await migrateExport(converged, FIXTURE_EXPORT);
    targetA = await targetRows(converged.sql);
    const b = await stateB(converged.sql, runA.runId, await readExport(FIXTURE_EXPORT));
    await writeExport(dir, b);
    await insertApplicationRows(converged.sql, str(b.GoalKpiLink[0]!, 'Id').toLowerCase().replace(/[{}]/g, ''));
    applicationA = await applicationRows(converged.sql);
    runB = await migrateExport(converged, dir, { converge: true, maxDelete: parseDeleteLimit('100%') });
    freshB = await migrateExport(fresh, dir);
  });

  it('ends with the target a fresh run of the changed source produces, row for row and column for column, and the same rejects', async () => {
    expect(runB.converge).toBe(true);
    expect(await migratedRows(converged.sql)).toEqual(await targetRows(fresh.sql));
    expect(await applicationRows(converged.sql)).toEqual(applicationA);
    expect(applicationA).toHaveLength(3);
    expect(await outcomes(converged.sql, runB.runId)).toEqual(await outcomes(fresh.sql, freshB.runId));
    for (const entity of ['GoalKpiLink', 'KpiMilestone', 'KpiActual', 'KpiReading'] as const) {
      const c = runB.counts.entities[entity]!;
      expect(c.read, entity).toBe(c.migrated + c.rejected + c.skipped);
      expect({ migrated: c.migrated, rejected: c.rejected, rowsOut: c.rowsOut }, entity).toEqual({
        migrated: freshB.counts.entities[entity]!.migrated,
        rejected: freshB.counts.entities[entity]!.rejected,
        rowsOut: freshB.counts.entities[entity]!.rowsOut,
      });
    }
    // Every kind of change reached the target: rows were removed from every data entity and links.
    expect(runB.counts.entities.GoalKpiLink!.deleted).toBeGreaterThan(0);
    expect(runB.counts.entities.KpiMilestone!.deleted).toBeGreaterThan(0);
    expect(runB.counts.entities.KpiActual!.deleted).toBeGreaterThan(0);
    const { rows } = await converged.sql.query<{ n: string }>(`select count(*)::text as n from public.kpi_links where person_id = $1`, [NEW_OWNER]);
    expect(Number(rows[0]!.n)).toBeGreaterThan(0);
  });

  it('validate passes on the converged target, --full included; the application’s rows are not the migration’s', async () => {
    // As `run` does before it validates: the progress cache validate checks is finalize's to compute.
    await finalizeTarget(converged.sql, 'public');
    const source = createExportSource({ dir, tableNames: TABLE_NAMES });
    try {
      const report = await validate(converged.sql, source, { runId: runB.runId, full: true, sample: 10_000 });
      expectClean(report);
      expect(report.warnings).toContain(
        "1 kpi_links and 2 kpi_data row(s) have no provenance: the application wrote them, so they are not the migration's and were not compared",
      );
    } finally {
      await source.close();
    }
  });

  it('a second converge run of the same state changes nothing', async () => {
    const again = await migrateExport(converged, dir, { converge: true });
    for (const entity of ['GoalKpiLink', 'KpiMilestone', 'KpiActual', 'KpiReading'] as const) {
      expect(again.counts.entities[entity], entity).toMatchObject({ inserted: 0, updated: 0, deleted: 0 });
    }
    await rollbackRun(converged.sql, { runId: again.runId, schema: 'public', confirm: true });
  });

  it('rollback of the converge run restores state A’s target exactly', async () => {
    await rollbackRun(converged.sql, { runId: runB.runId, schema: 'public', confirm: true });
    expect(await migratedRows(converged.sql)).toEqual(targetA);
    expect(await applicationRows(converged.sql)).toEqual(applicationA);
  });
});

describe('run --converge on a source with a table missing', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-converge-missing-'));
  });
  afterAll(async () => {
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is refused before any delete (the default limit), and completes when resumed with the limit raised', async () => {
    await migrateExport(db, FIXTURE_EXPORT);
    const tables = await readExport(FIXTURE_EXPORT);
    await writeExport(dir, { ...tables, KpiActual: [] });
    const before = await targetRows(db.sql);
    const refused = await migrateExport(db, dir, { converge: true }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MigrateError);
    expect((refused as MigrateError).code).toBe('CONVERGE_REFUSED');
    expect((refused as MigrateError).message).toMatch(/kpi_data: would delete \d+ of the \d+ row\(s\) the tool wrote/);
    expect(await targetRows(db.sql)).toEqual(before);
    const { rows } = await db.sql.query<{ id: string; status: string }>(`select id::text as id, status from kpi_migrate.runs order by id desc limit 1`);
    expect(rows[0]!.status).toBe('failed');

    const resumed = await migrateExport(db, dir, { resume: rows[0]!.id, maxDelete: parseDeleteLimit('100%') });
    expect(resumed.converge).toBe(true);
    expect(resumed.counts.entities.KpiActual!.deleted).toBe(before.data.filter((row) => row[KPI_DATA_SOURCE_ENTITY] === 'KpiActual').length);
    const fresh = await createTestDatabase();
    try {
      await migrateExport(fresh, dir);
      expect(await targetRows(db.sql)).toEqual(await targetRows(fresh.sql));
    } finally {
      await fresh.drop();
    }
  });
});

/** `sql`, whose `failAt`-th transaction does all its work, then fails instead of committing. */
function failingAtCommit(sql: SqlClient, failAt: number): SqlClient & { transactions(): number } {
  let transactions = 0;
  return {
    dialect: sql.dialect,
    query: <Row = Record<string, unknown>>(text: string, params?: readonly unknown[]) => sql.query<Row>(text, params),
    exec: (script: string) => sql.exec(script),
    copyFrom: (table: string, columns: readonly string[], text: string) => sql.copyFrom(table, columns, text),
    holdAdvisoryLocks: (locks, name) => sql.holdAdvisoryLocks(locks, name),
    close: () => sql.close(),
    transaction: <T>(work: (session: SqlSession) => Promise<T>): Promise<T> => {
      transactions += 1;
      if (transactions !== failAt) return sql.transaction(work);
      return sql.transaction(async (session) => {
        await work(session);
        throw new Error(`injected: the connection was lost before transaction ${failAt} committed`);
      });
    },
    transactions: () => transactions,
  };
}

describe('a converge run that dies, resumed', () => {
  const databases: TestDatabase[] = [];
  let dir: string;
  let expected: Awaited<ReturnType<typeof targetRows>>;
  let expectedRejects: string[];
  let transactions: number;

  /** A target holding state A, with state B written to `dir`. */
  async function stateA(): Promise<TestDatabase> {
    const db = await createTestDatabase();
    databases.push(db);
    await migrateExport(db, FIXTURE_EXPORT);
    return db;
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-converge-resume-'));
    const first = await stateA();
    const runA = (await first.sql.query<{ id: string }>('select max(id)::text as id from kpi_migrate.runs')).rows[0]!.id;
    await writeExport(dir, await stateB(first.sql, runA, await readExport(FIXTURE_EXPORT)));
    const counting = failingAtCommit(first.sql, 0);
    const uninterrupted = await migrateExport(first, dir, { sql: counting, converge: true, maxDelete: parseDeleteLimit('100%') });
    transactions = counting.transactions();
    expected = await targetRows(first.sql);
    expectedRejects = await rejectKeys(first.sql, uninterrupted.runId);
  });
  afterAll(async () => {
    for (const db of databases) await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('ends with the target of an uninterrupted converge run, wherever it died (the sweep’s own transaction included)', async () => {
    // Schema migrations (one transaction to prepare, one per file) and the two lookups come first.
    const firstBatch = 1 + (await loadMigrations('public')).length + 2 + 1;
    expect(transactions).toBeGreaterThan(firstBatch + 4);
    // The last transaction marks the run completed; the one before it is the sweep.
    for (const failAt of [firstBatch, Math.floor((firstBatch + transactions) / 2), transactions - 1, transactions]) {
      const db = await stateA();
      const died = await migrateExport(db, dir, { sql: failingAtCommit(db.sql, failAt), converge: true, maxDelete: parseDeleteLimit('100%') }).catch(
        (error: unknown) => error,
      );
      expect(died, `transaction ${failAt}`).toBeInstanceOf(Error);
      const { rows } = await db.sql.query<{ id: string; swept: boolean }>(
        'select id::text as id, swept_at is not null as swept from kpi_migrate.runs order by runs.id desc limit 1',
      );
      // Dying in the sweep's transaction leaves nothing of it; dying after it, the resume must not sweep again.
      expect(rows[0]!.swept, `transaction ${failAt}`).toBe(failAt === transactions);
      const resumed = await migrateExport(db, dir, { resume: rows[0]!.id, maxDelete: parseDeleteLimit('100%') });
      expect(resumed.converge, `transaction ${failAt}`).toBe(true);
      expect(await targetRows(db.sql), `transaction ${failAt}`).toEqual(expected);
      expect(await rejectKeys(db.sql, resumed.runId), `transaction ${failAt}`).toEqual(expectedRejects);
    }
  });
});
