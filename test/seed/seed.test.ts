import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { LEGACY_ENTITIES, defaultTableNames } from '../../src/model/entities.js';
import { KV_STORE_FILE, seed, type SeedFormat } from '../../src/seed/index.js';

describe('seed()', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'kpi-seed-cmd-'));
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  const readJson = async (file: string) => JSON.parse(await readFile(file, 'utf8'));

  it('writes DynamoDB export files in the S3 layout by default, with expected.json beside them', async () => {
    const out = path.join(root, 'export');
    const result = await seed({ items: 80, seed: 3, out, format: 'export' });
    expect(await readJson(path.join(out, 'expected.json'))).toEqual(result.expected);
    const names = defaultTableNames();
    for (const entity of LEGACY_ENTITIES) {
      expect(result.manifest.tables[names[entity]]).toMatchObject({ layout: 's3', itemCount: result.expected.tables[entity].read });
      expect(await readdir(path.join(out, names[entity]))).toEqual(['AWSDynamoDB']);
    }
  });

  it('writes scan dumps under the table names given', async () => {
    const out = path.join(root, 'dynamodb');
    const tableNames = defaultTableNames('legacy_', { KpiReading: 'readings-v2' });
    const result = await seed({ items: 80, seed: 3, out, format: 'dynamodb', tableNames });
    for (const entity of LEGACY_ENTITIES) {
      const dump = await readJson(path.join(out, `${tableNames[entity]}.json`));
      expect(dump.Count).toBe(result.expected.tables[entity].read);
    }
    expect((await readdir(out)).sort()).toContain('readings-v2.json');
  });

  it('writes kv_store lines without the records jsonb cannot hold, and says so in expected.json', async () => {
    const out = path.join(root, 'kv');
    const result = await seed({ items: 80, seed: 3, out, format: 'kv', kvPrefixes: { Kpi: 'k', Person: 'p', GoalKpiLink: 'l', KpiMilestone: 'm', KpiActual: 'a', KpiReading: 'r' } });
    const text = await readFile(path.join(out, KV_STORE_FILE), 'utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    const total = LEGACY_ENTITIES.reduce((sum, entity) => sum + result.expected.tables[entity].read, 0);
    expect(lines).toHaveLength(total);
    expect(text).not.toContain('\\u0000');
    expect(new Set(lines.map((l) => JSON.parse(l).key.split(':')[0]))).toEqual(new Set(['k', 'p', 'l', 'm', 'a', 'r']));
    for (const entity of LEGACY_ENTITIES) expect(result.expected.tables[entity].rejected.db_error).toBeUndefined();
  });

  it('writes the same bytes twice (the export time is fixed, not the clock’s)', async () => {
    const a = await seed({ items: 50, seed: 9, out: path.join(root, 'a'), format: 'export', itemsPerFile: 10 });
    const b = await seed({ items: 50, seed: 9, out: path.join(root, 'b'), format: 'export', itemsPerFile: 10 });
    expect(b.manifest).toEqual(a.manifest);
  });

  it('refuses an unknown format as a usage error', async () => {
    const error = await seed({ items: 10, seed: 1, out: path.join(root, 'x'), format: 'csv' as SeedFormat }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as MigrateError).code).toBe('USAGE');
  });
});
