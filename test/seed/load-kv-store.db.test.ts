import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { writeKvStore } from '../../src/extract/export-writer.js';
import { loadKvStore } from '../../src/seed/load-kv-store.js';
import { SMALL_FIXTURE_DIR } from '../../src/seed/write-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const THIRTY_EIGHT = '12345678901234567890.123456789012345678';
const MAX_N = '9.9999999999999999999999999999999999999E+125';
const TRICKY_TEXT = 'tab\there, line\nbreak, back\\slash, "quotes", \\N and ünïcödé';

describe('kv_store loader (COPY into key text, value jsonb)', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-seed-kvdb-'));
  });
  afterAll(async () => {
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a 38-digit number digit for digit, and text with COPY’s special characters intact', async () => {
    await writeKvStore(dir, 'exact.jsonl', [
      {
        prefix: 'kpi_actual',
        items: [
          {
            Id: { S: '{0F8FAD5B-D9CB-469F-A165-70867728950E}' },
            ActualValue: { N: THIRTY_EIGHT },
            Biggest: { N: MAX_N },
            OverrideComment: { S: TRICKY_TEXT },
            Raw: { B: Uint8Array.from([0, 1, 254, 255]) },
            Tags: { SS: ['a', 'b'] },
          },
        ],
      },
    ]);
    const loaded = await loadKvStore(db.sql, path.join(dir, 'exact.jsonl'), { schema: 'legacy', table: 'kv exact' });
    expect(loaded).toBe(1);
    const { rows } = await db.sql.query<Record<string, string>>(
      `select key, value->>'ActualValue' as actual, (value->'ActualValue')::text as actual_json,
              value->>'Biggest' as biggest, value->>'OverrideComment' as comment, value->>'Raw' as raw,
              jsonb_typeof(value->'ActualValue') as kind, value->'Tags' as tags
         from legacy."kv exact"`,
    );
    expect(rows[0]).toMatchObject({
      key: 'kpi_actual:{0F8FAD5B-D9CB-469F-A165-70867728950E}',
      actual: THIRTY_EIGHT,
      actual_json: THIRTY_EIGHT,
      kind: 'number',
      comment: TRICKY_TEXT,
      raw: Buffer.from([0, 1, 254, 255]).toString('base64'),
    });
    // jsonb writes the exponent form out in full: the same number, every digit kept.
    expect(rows[0]!.biggest).toBe(`${'9'.repeat(38)}${'0'.repeat(88)}`);
    expect(JSON.parse(rows[0]!.tags!)).toEqual(['a', 'b']);
  });

  it('loads the committed kv fixture in batches, and `replace` empties the table first', async () => {
    const file = path.join(SMALL_FIXTURE_DIR, 'kv', 'kv_store.jsonl');
    const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '').length;
    expect(await loadKvStore(db.sql, file, { batchRows: 128 })).toBe(lines);
    expect(await loadKvStore(db.sql, file, { batchRows: 1000, replace: true })).toBe(lines);
    const { rows } = await db.sql.query<{ n: string; prefixes: string }>(
      `select count(*)::text as n, string_agg(distinct split_part(key, ':', 1), ',' order by split_part(key, ':', 1)) as prefixes from kv_store`,
    );
    expect(rows[0]).toEqual({ n: String(lines), prefixes: 'goal_kpi_link,kpi,kpi_actual,kpi_milestone,kpi_reading,person' });
    const expected = JSON.parse(await readFile(path.join(SMALL_FIXTURE_DIR, 'kv', 'expected.json'), 'utf8'));
    const { rows: milestones } = await db.sql.query<{ n: string }>(`select count(*)::text as n from kv_store where key like 'kpi\\_milestone:%'`);
    expect(Number(milestones[0]!.n)).toBe(expected.tables.KpiMilestone.read);
  });

  it('fails with a MigrateError naming the lines when PostgreSQL refuses them (a key twice, a NUL)', async () => {
    const file = path.join(SMALL_FIXTURE_DIR, 'kv', 'kv_store.jsonl');
    await expect(loadKvStore(db.sql, file)).rejects.toThrow(MigrateError);

    await writeFile(path.join(dir, 'nul.jsonl'), '{"key":"kpi_reading:x","value":{"Notes":"a\\u0000b"}}\n');
    const error = await loadKvStore(db.sql, path.join(dir, 'nul.jsonl'), { table: 'kv_nul' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as MigrateError).code).toBe('TARGET_UNAVAILABLE');
    expect((error as MigrateError).message).toMatch(/lines 1–1/);
    const { rows } = await db.sql.query<{ n: string }>('select count(*)::text as n from kv_nul');
    expect(rows[0]!.n).toBe('0');
  });
});
