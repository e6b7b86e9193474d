import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planLegacyData } from '../../src/seed/generate.js';
import { SMALL_FIXTURE, SMALL_FIXTURE_DIR, writeSmallFixtures } from '../../src/seed/write-fixtures.js';

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('committed fixtures (fixtures/small)', () => {
  let regenerated: string;
  beforeAll(async () => {
    regenerated = await mkdtemp(path.join(tmpdir(), 'kpi-seed-fixtures-'));
    await writeSmallFixtures(regenerated);
  });
  afterAll(async () => rm(regenerated, { recursive: true, force: true }));

  it('are exactly what the generator writes today, byte for byte (gzip included)', async () => {
    const committed = await filesUnder(SMALL_FIXTURE_DIR);
    expect(await filesUnder(regenerated)).toEqual(committed);
    for (const file of committed) {
      const [want, got] = await Promise.all([readFile(path.join(SMALL_FIXTURE_DIR, file)), readFile(path.join(regenerated, file))]);
      expect(got.equals(want), `${file} differs: run writeSmallFixtures() and commit`).toBe(true);
    }
  });

  it('hold every source format, both export layouts, and the expected outcomes', async () => {
    const files = await filesUnder(SMALL_FIXTURE_DIR);
    expect(files.some((f) => /^export\/[^/]+\/AWSDynamoDB\/[^/]+\/manifest-summary\.json$/.test(f))).toBe(true);
    expect(files.some((f) => /^export\/[^/]+\/part-\d{5}\.json\.gz$/.test(f))).toBe(true);
    expect(files.filter((f) => /^scan\/[^/]+\.json$/.test(f) && !f.endsWith('manifest.json') && !f.endsWith('expected.json'))).toHaveLength(6);
    expect(files).toContain('kv/kv_store.jsonl');

    const expected = JSON.parse(await readFile(path.join(SMALL_FIXTURE_DIR, 'expected.json'), 'utf8'));
    expect(expected).toEqual(planLegacyData(SMALL_FIXTURE).expected());
    const kvExpected = JSON.parse(await readFile(path.join(SMALL_FIXTURE_DIR, 'kv', 'expected.json'), 'utf8'));
    expect(kvExpected).toEqual(planLegacyData({ ...SMALL_FIXTURE, nulInText: false }).expected());
    // The kv form lacks only the db_error records: the same rows come out of it.
    expect(kvExpected.kpiDataRows).toEqual(expected.kpiDataRows);
    expect(kvExpected.tables.KpiActual.read).toBe(expected.tables.KpiActual.read - expected.tables.KpiActual.rejected.db_error);
  });
});
