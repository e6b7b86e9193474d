import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalizeTarget } from '../../src/load/finalize.js';
import { refreshProgressCache } from '../../src/load/progress-cache.js';
import type { SqlSession } from '../../src/db/sql-client.js';
import { progressCacheCheck } from '../../src/validate/progress-cache-check.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FIXTURE_EXPORT, migrateExport } from '../pipeline/changed-export.js';
import { cachedProgress, canonical, expectedProgress } from './progress-oracle.js';

async function column<T>(sql: SqlSession, text: string, params: unknown[] = []): Promise<T[]> {
  const { rows } = await sql.query<{ v: T }>(text, params);
  return rows.map((row) => row.v);
}

async function insertData(sql: SqlSession, row: { id: string; link: string; category: 'actual' | 'target'; value: string; postDate: string; recordedAt: string | null }): Promise<void> {
  await sql.query(
    `insert into public.kpi_data (id, kpi_link_id, data_category, target_subtype, actual_subtype, post_value, post_date, recorded_at, source_entity, source_id, first_run_id, last_run_id)
     values ($1, $2, $3, case when $3 = 'target' then 'expected' end, case when $3 = 'actual' then 'measured' end, $4, $5, $6, 'Test', $7, 1, 1)`,
    [row.id, row.link, row.category, row.value, row.postDate, row.recordedAt, row.id],
  );
}

describe('the progress cache (contract §6)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    expect((await migrateExport(db, FIXTURE_EXPORT)).status).toBe('completed');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('of the seed generator’s data set equals an independent computation, for every link and goal', async () => {
    const outcome = await finalizeTarget(db.sql, 'public');
    const expected = canonical(await expectedProgress(db.sql));
    expect(canonical(await cachedProgress(db.sql))).toEqual(expected);
    expect(outcome.progressCache.links.computed).toBe(expected.links.length);
    expect(outcome.progressCache.goals.computed).toBe(expected.goals.length);
    // The data set reaches the branches the comparison is meant to cover. Every link of the
    // fixtures has an actual, a target dated after it and a goal of its own: not_started, the
    // latest target as a fallback and goals of several links come with the next test's changes.
    const statuses = new Set(expected.links.map((link) => link.status));
    expect([...statuses].sort()).toEqual(['completed', 'in_progress']);
    expect((await progressCacheCheck(db.sql, 'public', 10)).status).toBe('passed');
  });

  it('refreshProgressCache(links) after changes of actuals, targets and links equals a fresh computation; validate names what differs', async () => {
    await finalizeTarget(db.sql, 'public');
    const links = await column<string>(db.sql, `select l.id::text as v from public.kpi_links l
        where l.goal_id is not null
          and exists (select 1 from public.kpi_data d where d.kpi_link_id = l.id and d.data_category = 'actual')
          and exists (select 1 from public.kpi_data d where d.kpi_link_id = l.id and d.data_category = 'target' and d.post_value <> 0)
        order by l.id limit 6`);
    const [newerActual, noActual, zeroTarget, moved, removed, tied] = links as [string, string, string, string, string, string];
    const otherGoal = (await column<string>(db.sql, `select goal_id::text as v from public.kpi_links where goal_id is not null and id <> $1 order by id desc limit 1`, [moved]))[0]!;
    const late = '2031-01-01T00:00:00Z';

    // A converge run's kind of change, made directly: the refresh only knows which links it touched.
    await insertData(db.sql, { id: '10000000-0000-4000-8000-000000000001', link: newerActual, category: 'actual', value: '250.5', postDate: late, recordedAt: null });
    await db.sql.query(`delete from public.kpi_data where kpi_link_id = $1 and data_category = 'actual'`, [noActual]);
    await db.sql.query(`update public.kpi_data set post_value = 0 where kpi_link_id = $1 and data_category = 'target'`, [zeroTarget]);
    await db.sql.query(`update public.kpi_links set goal_id = $2, weight = 3.5 where id = $1`, [moved, otherGoal]);
    await db.sql.query(`delete from public.kpi_data where kpi_link_id = $1`, [removed]);
    await db.sql.query(`delete from public.kpi_links where id = $1`, [removed]);
    // Three actuals on one date: the latest recorded wins, a missing recorded_at counts as earliest,
    // and among equals the greatest id; the target is the first one dated on or after it.
    for (const [suffix, value, recordedAt] of [['a', '7', '2031-01-02T00:00:00Z'], ['b', '8', '2031-01-02T00:00:00Z'], ['c', '9', null]] as const) {
      await insertData(db.sql, { id: `20000000-0000-4000-8000-00000000000${suffix}`, link: tied, category: 'actual', value, postDate: late, recordedAt });
    }
    await insertData(db.sql, { id: '20000000-0000-4000-8000-0000000000f1', link: tied, category: 'target', value: '16', postDate: '2031-06-01T00:00:00Z', recordedAt: null });
    await insertData(db.sql, { id: '20000000-0000-4000-8000-0000000000f2', link: tied, category: 'target', value: '3', postDate: '2032-06-01T00:00:00Z', recordedAt: null });

    const check = await progressCacheCheck(db.sql, 'public', 50);
    expect(check.status).toBe('failed');
    const named = new Set(check.differences.map((difference) => difference.id));
    for (const link of [newerActual, noActual, zeroTarget, moved, removed, tied]) expect(named.has(link)).toBe(true);

    const refresh = await db.sql.transaction((tx) => refreshProgressCache(tx, 'public', [newerActual, noActual, zeroTarget, moved, removed, tied]));
    expect(refresh.scope).toBe('links');
    expect(refresh.links.deleted).toBe(1);
    expect(refresh.links.updated).toBe(5);
    const cached = await cachedProgress(db.sql);
    expect(new Set(cached.links.map((link) => link.status))).toEqual(new Set(['completed', 'in_progress', 'not_started']));
    const fallback = cached.links.find((link) => link.kpi_link_id === newerActual)!;
    expect(fallback.target_date! < fallback.current_value_at!).toBe(true);
    expect(cached.goals.find((goal) => goal.goal_id === otherGoal)?.child_count).toBe(2);
    expect(canonical(await cachedProgress(db.sql))).toEqual(canonical(await expectedProgress(db.sql)));
    const tiedRow = (await cachedProgress(db.sql)).links.find((link) => link.kpi_link_id === tied)!;
    expect(tiedRow).toMatchObject({ current_value: '8', target_value: '16', progress_percentage: '50.0000', status: 'in_progress' });
    expect((await progressCacheCheck(db.sql, 'public', 50)).status).toBe('passed');

    // Refreshing again changes nothing.
    const again = await db.sql.transaction((tx) => refreshProgressCache(tx, 'public', [newerActual, tied]));
    expect([again.links.inserted, again.links.updated, again.links.deleted, again.goals.inserted, again.goals.updated, again.goals.deleted]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('validate names a cache row that was tampered with, one missing, and a goal that no longer adds up', async () => {
    await finalizeTarget(db.sql, 'public');
    const [changed, missing] = await column<string>(db.sql, `select kpi_link_id::text as v from public.kpi_progress_cache where goal_id is not null order by kpi_link_id desc limit 2`);
    await db.sql.query(`update public.kpi_progress_cache set progress_percentage = 12.3456 where kpi_link_id = $1`, [changed]);
    await db.sql.query(`delete from public.kpi_progress_cache where kpi_link_id = $1`, [missing]);
    const goal = (await column<string>(db.sql, `select goal_id::text as v from public.goal_progress_cache order by goal_id limit 1`))[0]!;
    await db.sql.query(`update public.goal_progress_cache set child_count = child_count + 1 where goal_id = $1`, [goal]);
    const check = await progressCacheCheck(db.sql, 'public', 50);
    expect(check.status).toBe('failed');
    expect(check.evidence).toMatchObject({ differingLinks: 2, differingGoals: 1 });
    expect(check.differences.find((d) => d.id === changed)).toMatchObject({ kind: 'changed_value', column: 'progress_percentage' });
    expect(check.differences.find((d) => d.id === missing)).toMatchObject({ kind: 'missing_row' });
    expect(check.differences.find((d) => d.id?.endsWith(goal))).toMatchObject({ kind: 'changed_value', column: 'child_count' });
    // finalize puts it right.
    const repaired = await finalizeTarget(db.sql, 'public');
    expect(repaired.progressCache.links).toMatchObject({ inserted: 1, updated: 1, deleted: 0 });
    expect((await progressCacheCheck(db.sql, 'public', 50)).status).toBe('passed');
  });
});
