import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalizeTarget, FOREIGN_KEY_NAME, LINK_DATE_INDEX_NAME, describeFinalize, type FinalizeOutcome } from '../../src/load/finalize.js';
import { openPgClient } from '../../src/db/pg-client.js';
import type { SqlSession } from '../../src/db/sql-client.js';
import { createTestDatabase, usesRealPostgres, type TestDatabase } from '../support/database.js';
import { FIXTURE_EXPORT, migrateExport } from '../pipeline/changed-export.js';

const ORPHAN_IDS = ['00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-0000000000a2'];
const MISSING_LINK = '00000000-0000-4000-8000-00000000dead';

/** The foreign key kpi_data.kpi_link_id → kpi_links.id, whatever its name: [name, validated]. */
async function foreignKeys(sql: SqlSession): Promise<[string, boolean][]> {
  const { rows } = await sql.query<{ name: string; validated: boolean }>(
    `select conname as name, convalidated as validated from pg_constraint
      where contype = 'f' and conrelid = 'public.kpi_data'::regclass and confrelid = 'public.kpi_links'::regclass order by 1`,
  );
  return rows.map((row) => [row.name, row.validated]);
}

async function linkDateIndexes(sql: SqlSession): Promise<[string, boolean][]> {
  const { rows } = await sql.query<{ name: string; valid: boolean }>(
    `select i.relname as name, x.indisvalid as valid from pg_index x join pg_class i on i.oid = x.indexrelid
      where x.indrelid = 'public.kpi_data'::regclass and pg_get_indexdef(x.indexrelid) like '%(kpi_link_id, post_date)' order by 1`,
  );
  return rows.map((row) => [row.name, row.valid]);
}

/** Rows the test writes itself: every NOT NULL column of today's kpi_data supplied. */
async function insertOrphans(sql: SqlSession): Promise<void> {
  for (const [i, id] of ORPHAN_IDS.entries()) {
    await sql.query(
      `insert into public.kpi_data (id, kpi_link_id, data_category, actual_subtype, post_value, post_date, source_entity, source_id, first_run_id, last_run_id)
       values ($1, $2, 'actual', 'measured', $3, '2024-03-01T00:00:00Z', 'Test', $4, 1, 1)`,
      [id, MISSING_LINK, String(i + 1), id],
    );
  }
}

function nothingChanged(outcome: FinalizeOutcome): void {
  expect(outcome.changed).toBe(false);
  expect(outcome.foreignKey).toMatchObject({ found: 'valid', added: false, validated: false, valid: true });
  expect(outcome.index).toMatchObject({ found: 'valid', created: false, droppedInvalid: false });
  for (const table of ['links', 'goals'] as const) expect(outcome.progressCache[table]).toMatchObject({ inserted: 0, updated: 0, deleted: 0 });
  expect(describeFinalize(outcome).at(-1)).toMatch(/^finalize: nothing changed/);
}

describe('finalize: the foreign key the safe way, the index, the progress cache', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    const run = await migrateExport(db, FIXTURE_EXPORT);
    expect(run.status).toBe('completed');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('on the target a run leaves: the key and index of migration 002 are kept, the cache is computed, and a second finalize changes nothing', async () => {
    const first = await finalizeTarget(db.sql, 'public');
    expect(first.foreignKey).toMatchObject({ constraint: FOREIGN_KEY_NAME, found: 'valid', added: false, validated: false, orphanRows: null });
    expect(first.index).toMatchObject({ name: LINK_DATE_INDEX_NAME, found: 'valid', created: false });
    expect(first.progressCache.links.inserted).toBeGreaterThan(0);
    expect(first.progressCache.links.inserted).toBe(first.progressCache.links.computed);
    expect(first.progressCache.goals.inserted).toBe(first.progressCache.goals.computed);
    expect(first.changed).toBe(true);
    const calculatedAt = await db.sql.query(`select max(last_calculated_at)::text as at from public.kpi_progress_cache`);
    nothingChanged(await finalizeTarget(db.sql, 'public'));
    // Rows equal to their recomputation are not rewritten, so their time does not move either.
    expect((await db.sql.query(`select max(last_calculated_at)::text as at from public.kpi_progress_cache`)).rows).toEqual(calculatedAt.rows);
  });

  it('a key that is absent, with two orphan rows: added NOT VALID, both orphans named, not validated; once they are gone, validated', async () => {
    await db.sql.query(`alter table public.kpi_data drop constraint ${FOREIGN_KEY_NAME}`);
    await insertOrphans(db.sql);
    expect(await foreignKeys(db.sql)).toEqual([]);

    const blocked = await finalizeTarget(db.sql, 'public');
    expect(blocked.foreignKey).toMatchObject({ constraint: FOREIGN_KEY_NAME, found: 'absent', added: true, validated: false, valid: false, orphanRows: 2 });
    expect(blocked.foreignKey.orphans).toEqual(ORPHAN_IDS.map((id) => ({ id, kpiLinkId: MISSING_LINK })));
    expect(await foreignKeys(db.sql)).toEqual([[FOREIGN_KEY_NAME, false]]);
    // Nothing deleted for them.
    const { rows: kept } = await db.sql.query<{ n: number }>(`select count(*)::int as n from public.kpi_data where id = any($1::uuid[])`, [`{${ORPHAN_IDS.join(',')}}`]);
    expect(kept[0]!.n).toBe(2);
    const lines = describeFinalize(blocked);
    for (const id of ORPHAN_IDS) expect(lines.some((line) => line.includes(id))).toBe(true);
    expect(lines[0]).toMatch(/added NOT VALID .*NOT validated: 2 kpi_data row/);

    // Present NOT VALID now, and still blocked: nothing is added twice.
    const again = await finalizeTarget(db.sql, 'public');
    expect(again.foreignKey).toMatchObject({ found: 'not_valid', added: false, validated: false, orphanRows: 2 });
    expect(await foreignKeys(db.sql)).toEqual([[FOREIGN_KEY_NAME, false]]);

    await db.sql.query(`delete from public.kpi_data where id = any($1::uuid[])`, [`{${ORPHAN_IDS.join(',')}}`]);
    const validated = usesRealPostgres() ? await finalizeWatchingValidateLocks(db) : await finalizeTarget(db.sql, 'public');
    expect(validated.foreignKey).toMatchObject({ found: 'not_valid', added: false, validated: true, valid: true, orphanRows: 0 });
    expect(await foreignKeys(db.sql)).toEqual([[FOREIGN_KEY_NAME, true]]);
    nothingChanged(await finalizeTarget(db.sql, 'public'));
  });

  it('the key found by its definition, not its name: an application’s own name is kept and validated', async () => {
    await db.sql.query(`alter table public.kpi_data drop constraint ${FOREIGN_KEY_NAME}`);
    await db.sql.query(`alter table public.kpi_data add constraint app_data_link_fk foreign key (kpi_link_id) references public.kpi_links (id) not valid`);
    const outcome = await finalizeTarget(db.sql, 'public');
    expect(outcome.foreignKey).toMatchObject({ constraint: 'app_data_link_fk', found: 'not_valid', added: false, validated: true });
    expect(await foreignKeys(db.sql)).toEqual([['app_data_link_fk', true]]);
    nothingChanged(await finalizeTarget(db.sql, 'public'));
  });

  it('an index that is missing is created CONCURRENTLY; one left invalid by an interrupted build is dropped and rebuilt', async () => {
    await db.sql.query(`drop index public.${LINK_DATE_INDEX_NAME}`);
    const created = await finalizeTarget(db.sql, 'public');
    expect(created.index).toMatchObject({ name: LINK_DATE_INDEX_NAME, found: 'absent', created: true, droppedInvalid: false });
    expect(await linkDateIndexes(db.sql)).toEqual([[LINK_DATE_INDEX_NAME, true]]);
    expect(created.changed).toBe(true);

    // A unique build over duplicate (link, date) pairs fails half-way and leaves its index invalid.
    await db.sql.query(`drop index public.${LINK_DATE_INDEX_NAME}`);
    await db.sql.query(
      `insert into public.kpi_data (id, kpi_link_id, data_category, actual_subtype, post_value, post_date, source_entity, source_id, first_run_id, last_run_id)
       select gen_random_uuid(), kpi_link_id, 'actual', 'measured', 1, post_date, 'Test', 'duplicate', 1, 1 from public.kpi_data limit 1`,
    );
    await expect(db.sql.query(`create unique index concurrently ${LINK_DATE_INDEX_NAME} on public.kpi_data (kpi_link_id, post_date)`)).rejects.toThrow();
    expect(await linkDateIndexes(db.sql)).toEqual([[LINK_DATE_INDEX_NAME, false]]);
    const rebuilt = await finalizeTarget(db.sql, 'public');
    expect(rebuilt.index).toMatchObject({ found: 'invalid', created: true, droppedInvalid: true });
    expect(await linkDateIndexes(db.sql)).toEqual([[LINK_DATE_INDEX_NAME, true]]);
    await db.sql.query(`delete from public.kpi_data where source_id = 'duplicate'`);
    const settled = await finalizeTarget(db.sql, 'public');
    expect(settled.index.created).toBe(false);
    nothingChanged(await finalizeTarget(db.sql, 'public'));
  });
});

const STRONGER_THAN_SHARE_UPDATE_EXCLUSIVE = ['ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'];

/**
 * Runs finalize while another session holds kpi_links in EXCLUSIVE mode: VALIDATE CONSTRAINT, once
 * it holds its lock on kpi_data, then waits for its ROW SHARE lock on kpi_links, and pg_locks shows
 * what it holds on kpi_data at that moment. The blocker then lets it finish.
 */
async function finalizeWatchingValidateLocks(db: TestDatabase): Promise<FinalizeOutcome> {
  const blocker = openPgClient(db.url, 1);
  const watcher = openPgClient(db.url, 1);
  try {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const blocking = blocker.transaction(async (tx) => {
      await tx.query('lock table public.kpi_links in exclusive mode');
      locked();
      await released;
    });
    await isLocked;
    const finalizing = finalizeTarget(db.sql, 'public');
    let held: { pid: number; modes: string[] } | undefined;
    try {
      for (let attempt = 0; attempt < 600 && held === undefined; attempt++) {
        const { rows } = await watcher.query<{ pid: number; modes: string[] | string; query: string }>(
          `select w.pid, array(select l.mode from pg_locks l where l.pid = w.pid and l.relation = 'public.kpi_data'::regclass and l.granted order by 1) as modes,
                  a.query
             from pg_locks w join pg_stat_activity a on a.pid = w.pid
            where w.relation = 'public.kpi_links'::regclass and not w.granted and w.mode = 'RowShareLock'`,
        );
        if (rows[0] !== undefined) {
          expect(rows[0].query).toMatch(/validate constraint/i);
          const modes = Array.isArray(rows[0].modes) ? rows[0].modes : rows[0].modes.replace(/[{}]/g, '').split(',').filter(Boolean);
          held = { pid: rows[0].pid, modes };
        } else await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      release();
      await blocking;
    }
    expect(held, 'VALIDATE CONSTRAINT was never seen waiting for kpi_links').toBeDefined();
    expect(held!.modes).toContain('ShareUpdateExclusiveLock');
    expect(held!.modes.filter((mode) => STRONGER_THAN_SHARE_UPDATE_EXCLUSIVE.includes(mode))).toEqual([]);
    return await finalizing;
  } finally {
    await blocker.close();
    await watcher.close();
  }
}
