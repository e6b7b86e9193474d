import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlSession } from '../../src/db/sql-client.js';
import { deriveChangedState } from '../../src/seed/changes.js';
import { planLegacyData, SEED_EXPORT_TIME, writeIncrementalExports, type AttributeMap } from '../../src/seed/index.js';
import { LEGACY_ENTITIES, MIGRATED_ENTITIES, type LegacyEntity } from '../../src/model/entities.js';
import { KPI_DATA_COLUMNS, KPI_LINK_COLUMNS } from '../../src/model/rows.js';
import { cloneDatabase, createTestDatabase, testServerUrl, type TestDatabase } from '../support/database.js';
import { describeOutcome, runCli, startCli } from '../support/child-cli.js';
import { accountingOf, committedReads, exportRunArgs, pollUntil, runIds, runStatus, temporaryDirectory, type Accounting } from '../faults/harness.js';
import { runArgs, TABLE_NAMES, writeTables } from './converge-support.js';
import { cachedProgress, canonical, expectedProgress } from '../load/progress-oracle.js';
import { missing } from '../support/prerequisites.js';
import { rejectKeys } from '../support/target-rows.js';

/**
 * Contract §6, "tables it finds": kpi_links and kpi_data created by the application's own
 * migration (this file's DDL, as a Drizzle or Prisma project would write it: only the contract's
 * columns, its own defaults and constraints, a column of its own, no foreign key). Every command
 * must give the rows the tool's own schema gives, keep its provenance in kpi_migrate, never touch
 * a row of the application, and refuse (exit 2, nothing written) tables it cannot fill.
 */

const skipReason = missing('postgres-server');
if (skipReason) console.warn(`skipping the application-schema tests: ${skipReason}`);

const DATA = { items: 800, seed: 31, tenants: 2 } as const;
const CHANGE_SEED = 7;

const APPLICATION_DDL = {
  links: `create table public.kpi_links (
    id uuid primary key,
    tenant_id uuid not null,
    kpi_id uuid not null,
    person_id uuid not null,
    goal_id uuid,
    strategy_id uuid,
    threshold_pct numeric,
    link_type text not null constraint kpi_links_link_type_ck check (link_type in ('primary', 'supporting', 'monitoring')),
    weight numeric,
    display_order integer,
    is_primary boolean not null default false,
    created_by uuid not null,
    created_at timestamptz not null default now(),
    updated_by uuid,
    updated_at timestamptz,
    archived boolean not null default false
  )`,
  data: (overrides: { postValue?: string; withoutLabel?: boolean } = {}) => `create table public.kpi_data (
    id uuid primary key default gen_random_uuid(),
    kpi_link_id uuid not null,
    data_category varchar(16) not null check (data_category in ('target', 'actual')),
    target_subtype text,
    actual_subtype text,
    post_value ${overrides.postValue ?? 'numeric'} not null,
    post_date timestamptz not null,
    measured_period_start_date timestamptz,
    ${overrides.withoutLabel ? '' : 'label text,'}
    confidence_level integer,
    rationale text,
    original_value numeric,
    is_manual_override boolean default false,
    override_comment text,
    data_source text,
    source_reference_id text,
    triggers_replan boolean,
    replan_threshold_exceeded boolean,
    auto_adjustment_applied text,
    recorded_by text,
    recorded_at timestamptz,
    created_by text,
    created_at timestamptz default now(),
    updated_by text,
    updated_at timestamptz
  )`,
};

/** Rows the live application wrote, knowing nothing of the migration. */
const APP = { link: 'bbbbbbbb-0000-4000-8000-00000000a001', data: 'bbbbbbbb-0000-4000-8000-00000000d001' } as const;

async function applicationDatabase(dataTable = APPLICATION_DDL.data()): Promise<TestDatabase> {
  const db = await cloneDatabase(testServerUrl()!, 'template0');
  await db.sql.exec(`${APPLICATION_DDL.links};\n${dataTable};`);
  return db;
}

async function writeApplicationRows(sql: SqlSession): Promise<void> {
  await sql.query(
    `insert into public.kpi_links (id, tenant_id, kpi_id, person_id, link_type, created_by)
     values ($1, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'primary', gen_random_uuid())`,
    [APP.link],
  );
  await sql.query(
    `insert into public.kpi_data (id, kpi_link_id, data_category, post_value, post_date) values ($1, $2, 'actual', 12.50, '2025-01-01T00:00:00Z')`,
    [APP.data, APP.link],
  );
}

async function applicationRows(sql: SqlSession): Promise<string[]> {
  const { rows } = await sql.query<{ row: string }>(
    `select to_jsonb(l)::text as row from public.kpi_links l where l.id = $1 union all select to_jsonb(d)::text from public.kpi_data d where d.id = $2`,
    [APP.link, APP.data],
  );
  return rows.map((r) => r.row);
}

type MigratedRows = { links: string[][]; data: string[][] };

/**
 * Every contract column of the rows the tool wrote, as text, by id: from the row on the tool's
 * tables, from the row and kpi_migrate.row_provenance (joined here, not through the code under
 * test) on the application's.
 */
async function migratedRows(sql: SqlSession, owner: 'tool' | 'application', legacyExtraInRow = false): Promise<MigratedRows> {
  const select = async (table: 'kpi_links' | 'kpi_data', columns: readonly string[]) => {
    const beside = new Set(['source_entity', 'source_id', ...(legacyExtraInRow ? [] : ['legacy_extra'])]);
    const list = columns.map((c) => `${owner === 'application' && beside.has(c) ? 'p' : 't'}.${c}::text as ${c}`).join(', ');
    const text =
      owner === 'tool'
        ? `select ${list} from public.${table} t where t.source_entity is not null order by t.id`
        : `select ${list} from public.${table} t join kpi_migrate.row_provenance p on p.table_name = '${table}' and p.row_id = t.id order by t.id`;
    const { rows } = await sql.query<Record<string, string | null>>(text);
    return rows.map((row) => columns.map((c) => row[c] ?? '∅'));
  };
  return { links: await select('kpi_links', KPI_LINK_COLUMNS), data: await select('kpi_data', KPI_DATA_COLUMNS) };
}

async function cli(args: string[], expected = 0): Promise<string> {
  const outcome = await runCli(args);
  expect(outcome.code, `${args.slice(0, 2).join(' ')}: ${describeOutcome(outcome)}`).toBe(expected);
  return outcome.stdout;
}

describe.skipIf(skipReason !== undefined)('tables the application created (contract §6)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  const track = <T extends { drop(): Promise<void> }>(db: T): T => {
    cleanups.push(() => db.drop());
    return db;
  };
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  const dirs = {} as Record<'a' | 'b' | 'incremental', string>;
  let reference: { rows: MigratedRows; accounting: Accounting; rejects: string[] };
  let referenceReads: number;

  beforeAll(async () => {
    const plan = planLegacyData(DATA);
    const changed = deriveChangedState(plan, { seed: CHANGE_SEED, scopeTenant: -1 });
    const tablesA = Object.fromEntries(LEGACY_ENTITIES.map((e) => [e, [...plan.tableItems(e)]])) as Record<LegacyEntity, AttributeMap[]>;
    for (const [key, tables] of [['a', tablesA], ['b', changed.tables]] as const) {
      const dir = await temporaryDirectory(`app-schema-${key}`);
      cleanups.push(dir.remove);
      dirs[key] = dir.dir;
      await writeTables(dir.dir, tables);
    }
    // State A's full export and the consecutive incremental windows that take it to B (`seed --changes --windows consecutive`).
    const incremental = await temporaryDirectory('app-schema-incremental');
    cleanups.push(incremental.remove);
    dirs.incremental = incremental.dir;
    await writeIncrementalExports(incremental.dir, tablesA, changed.tables, { tableNames: TABLE_NAMES, exportTime: SEED_EXPORT_TIME, windows: 'consecutive', itemsPerFile: 40 });
    const db = track(await createTestDatabase());
    await cli(runArgs(dirs.a, db.url));
    const [runId] = await runIds(db.sql);
    reference = { rows: await migratedRows(db.sql, 'tool'), accounting: await accountingOf(db.sql, runId!), rejects: await rejectKeys(db.sql, runId!) };
    referenceReads = MIGRATED_ENTITIES.reduce((sum, entity) => sum + reference.accounting[entity]!.read, 0);
  }, 120_000);

  it('run, re-run, validate and rollback: the rows of the tool’s own schema, provenance in kpi_migrate, the application’s rows untouched', async () => {
    const db = track(await applicationDatabase());
    await writeApplicationRows(db.sql);
    const appRows = await applicationRows(db.sql);
    expect(appRows).toHaveLength(2);

    // Validated and finalized, as `run` does by default.
    await cli(runArgs(dirs.a, db.url));
    const [first] = await runIds(db.sql);
    expect(await migratedRows(db.sql, 'application')).toEqual(reference.rows);
    expect(await accountingOf(db.sql, first!)).toEqual(reference.accounting);
    expect(await rejectKeys(db.sql, first!)).toEqual(reference.rejects);
    const { rows: columns } = await db.sql.query<{ column_name: string }>(
      `select column_name from information_schema.columns where table_schema = 'public' and table_name = 'kpi_data' and column_name in ('source_entity', 'first_run_id', 'legacy_extra')`,
    );
    expect(columns, 'nothing added to the application’s table').toEqual([]);
    const { rows: owners } = await db.sql.query<{ table_name: string; owner: string }>('select table_name, owner from kpi_migrate.target_tables order by 1');
    expect(owners).toEqual([{ table_name: 'kpi_data', owner: 'application' }, { table_name: 'kpi_links', owner: 'application' }]);

    await cli(runArgs(dirs.a, db.url));
    const second = (await runIds(db.sql))[1]!;
    const again = await accountingOf(db.sql, second);
    for (const entity of MIGRATED_ENTITIES) expect([entity, again[entity]!.inserted, again[entity]!.updated]).toEqual([entity, 0, 0]);
    expect(await migratedRows(db.sql, 'application')).toEqual(reference.rows);

    await cli(['validate', '--source', 'export', '--export-dir', dirs.a, '--database-url', db.url]);
    expect(await applicationRows(db.sql)).toEqual(appRows);

    await cli(['rollback', '--run', second, '--database-url', db.url, '--confirm']);
    expect(await migratedRows(db.sql, 'application')).toEqual(reference.rows);
    await cli(['rollback', '--run', first!, '--database-url', db.url, '--confirm']);
    const { rows: left } = await db.sql.query<{ links: string; data: string; provenance: string }>(
      `select (select count(*) from public.kpi_links)::text as links, (select count(*) from public.kpi_data)::text as data,
              (select count(*) from kpi_migrate.row_provenance)::text as provenance`,
    );
    expect(left[0]).toEqual({ links: '1', data: '1', provenance: '0' });
    expect(await applicationRows(db.sql)).toEqual(appRows);
  }, 180_000);

  it('tables with a legacy_extra column of their own: the tool writes it there, not beside the row; run, re-run and rollback as on its own schema', async () => {
    const withExtra = (ddl: string) => ddl.replace(/\n  \)$/, ",\n    legacy_extra jsonb not null default '{}'::jsonb\n  )");
    const db = track(await cloneDatabase(testServerUrl()!, 'template0'));
    await db.sql.exec(`${withExtra(APPLICATION_DDL.links)};\n${withExtra(APPLICATION_DDL.data())};`);
    await cli(runArgs(dirs.a, db.url));
    expect(await migratedRows(db.sql, 'application', true)).toEqual(reference.rows);
    const { rows: beside } = await db.sql.query<{ n: string }>('select count(*)::text as n from kpi_migrate.row_provenance where legacy_extra is not null');
    expect(beside[0]!.n).toBe('0');
    await cli(runArgs(dirs.a, db.url));
    const [first, second] = await runIds(db.sql);
    const again = await accountingOf(db.sql, second!);
    for (const entity of MIGRATED_ENTITIES) expect([entity, again[entity]!.inserted, again[entity]!.updated]).toEqual([entity, 0, 0]);
    await cli(['rollback', '--run', first!, '--also', second!, '--database-url', db.url, '--confirm']);
    const { rows: left } = await db.sql.query<{ n: string }>(
      'select ((select count(*) from public.kpi_links) + (select count(*) from public.kpi_data) + (select count(*) from kpi_migrate.row_provenance))::text as n',
    );
    expect(left[0]!.n).toBe('0');
  }, 180_000);

  it('killed (SIGKILL) mid-run and resumed: the same rows, accounting and rejects as the tool’s own schema', async () => {
    const db = track(await applicationDatabase());
    const args = exportRunArgs(dirs.a, db.url, '--no-validate');
    const child = startCli(args);
    // The ledger's tables appear only once the child has applied the migrations.
    const reads = () => committedReads(db.sql).catch(() => 0);
    const reached = await pollUntil(async () => ((await reads()) >= referenceReads * 0.4 ? true : undefined), child.running);
    await sleep(7);
    const killed = await child.kill('SIGKILL');
    expect(reached, 'the run committed batches before it was killed').toBe(true);
    expect(killed.signal, `the kill landed mid-run: ${describeOutcome(killed)}`).toBe('SIGKILL');
    const [runId] = await runIds(db.sql);
    expect(await runStatus(db.sql, runId!)).toBe('running');
    await cli([...args, '--resume', runId!]);
    expect(await runStatus(db.sql, runId!)).toBe('completed');
    expect(await migratedRows(db.sql, 'application')).toEqual(reference.rows);
    expect(await accountingOf(db.sql, runId!)).toEqual(reference.accounting);
    expect(await rejectKeys(db.sql, runId!)).toEqual(reference.rejects);
  }, 180_000);

  it('a converge run to a changed source gives the rows it gives on the tool’s own schema, and refreshes the cache of the links it touched to a fresh computation', async () => {
    const tool = track(await createTestDatabase());
    const app = track(await applicationDatabase());
    // Before the first run's finalize, which computes the cache row of the application's link too.
    await writeApplicationRows(app.sql);
    for (const db of [tool, app]) await cli(runArgs(dirs.a, db.url));
    const appRows = await applicationRows(app.sql);
    const before = canonical(await cachedProgress(app.sql));
    const outputs: string[] = [];
    // State B deletes more than the default guard's share of this small data set.
    for (const db of [tool, app]) outputs.push(await cli(runArgs(dirs.b, db.url, '--converge', '--max-delete', '100%')));
    expect(await migratedRows(app.sql, 'application')).toEqual(await migratedRows(tool.sql, 'tool'));
    expect(await applicationRows(app.sql)).toEqual(appRows);
    for (const [at, db] of [tool, app].entries()) {
      expect(outputs[at], 'only the touched links were recomputed').toContain('recomputed for the links the run touched');
      expect(canonical(await cachedProgress(db.sql)), `cache of the ${at === 0 ? 'tool' : 'application'} schema`).toEqual(canonical(await expectedProgress(db.sql)));
    }
    // The changes moved actuals and targets: the refresh had something to do, and left the application's link as it was.
    const after = canonical(await cachedProgress(app.sql));
    expect(after.links).not.toEqual(before.links);
    const appLink = (progress: typeof after) => progress.links.find((row) => row.kpi_link_id === APP.link);
    expect(appLink(after)).toBeDefined();
    expect(appLink(after)).toEqual(appLink(before));
  }, 240_000);

  it('sync --source export of incremental exports: the rows and rejects the same sync gives on the tool’s own schema, validate --full passes, the application’s rows untouched', async () => {
    const tool = track(await createTestDatabase());
    const app = track(await applicationDatabase());
    await writeApplicationRows(app.sql);
    const appRows = await applicationRows(app.sql);
    const runs: string[] = [];
    for (const db of [tool, app]) {
      await cli(runArgs(dirs.incremental, db.url, '--no-validate'));
      const [runId] = await runIds(db.sql);
      runs.push(runId!);
    }
    const beforeSync = await migratedRows(tool.sql, 'tool');
    for (const [at, db] of [tool, app].entries()) {
      await cli(['sync', '--source', 'export', '--export-dir', dirs.incremental, '--database-url', db.url, '--run', runs[at]!, '--batch-changes', '50']);
    }
    const synced = await migratedRows(tool.sql, 'tool');
    expect(synced, 'the sync changed the rows').not.toEqual(beforeSync);
    expect(await migratedRows(app.sql, 'application')).toEqual(synced);
    expect(await rejectKeys(app.sql, runs[1]!)).toEqual(await rejectKeys(tool.sql, runs[0]!));
    expect(await applicationRows(app.sql)).toEqual(appRows);
    const { rows: orphans } = await app.sql.query<{ n: string }>(
      `select count(*)::text as n from kpi_migrate.row_provenance p
       where not exists (select 1 from public.kpi_links t where p.table_name = 'kpi_links' and t.id = p.row_id)
         and not exists (select 1 from public.kpi_data t where p.table_name = 'kpi_data' and t.id = p.row_id)`,
    );
    expect(orphans[0]!.n, 'no provenance outlives its row').toBe('0');
    for (const [at, db] of [tool, app].entries()) {
      await cli(['validate', '--full', '--run', runs[at]!, '--source', 'export', '--export-dir', dirs.b, '--database-url', db.url]);
    }
  }, 240_000);

  it('only one of the two tables there: refused with exit 2 naming both, nothing written', async () => {
    const db = track(await cloneDatabase(testServerUrl()!, 'template0'));
    await db.sql.exec(APPLICATION_DDL.links);
    const outcome = await runCli(runArgs(dirs.a, db.url));
    expect(outcome.code, describeOutcome(outcome)).toBe(2);
    expect(outcome.stderr).toContain('holds kpi_links but not kpi_data');
    const { rows } = await db.sql.query<{ runs: string; data: string | null }>(
      `select (select count(*) from kpi_migrate.runs)::text as runs, to_regclass('public.kpi_data')::text as data`,
    );
    expect(rows[0]).toEqual({ runs: '0', data: null });
  }, 60_000);

  it.each([
    { what: 'a missing column', ddl: APPLICATION_DDL.data({ withoutLabel: true }), named: 'public.kpi_data.label is missing' },
    { what: 'a column of a type that would not hold the values exactly', ddl: APPLICATION_DDL.data({ postValue: 'double precision' }), named: 'public.kpi_data.post_value is double precision' },
  ])('$what: refused with exit 2 naming it, nothing written', async ({ ddl, named }) => {
    const db = track(await applicationDatabase(ddl));
    const outcome = await runCli(runArgs(dirs.a, db.url));
    expect(outcome.code, describeOutcome(outcome)).toBe(2);
    expect(outcome.stderr).toContain(named);
    expect(outcome.stderr).toContain('nothing was written');
    const { rows } = await db.sql.query<{ runs: string; links: string; data: string }>(
      `select (select count(*) from kpi_migrate.runs)::text as runs, (select count(*) from public.kpi_links)::text as links,
              (select count(*) from public.kpi_data)::text as data`,
    );
    expect(rows[0]).toEqual({ runs: '0', links: '0', data: '0' });
  }, 60_000);
});
