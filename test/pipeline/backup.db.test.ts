import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backupCommand } from '../../src/cli/commands/backup.js';
import { resolveConfig, type ConfigOverrides } from '../../src/config/resolve.js';
import { MigrateError } from '../../src/errors.js';
import { createExportSource } from '../../src/extract/export-source.js';
import { createKvSource } from '../../src/extract/kv-source.js';
import type { LegacySource } from '../../src/model/source.js';
import { backupConfiguredSource, backupSource } from '../../src/pipeline/backup.js';
import { openConfiguredSource } from '../../src/reading/open-source.js';
import { runMigration, type RunResult } from '../../src/pipeline/run.js';
import { loadKvStore } from '../../src/seed/load-kv-store.js';
import { loadLegacyTables, openLocalDynamoDbClient, readScanDump } from '../../src/seed/load-dynamodb.js';
import { LEGACY_ENTITIES, defaultTableNames, type LegacyEntity } from '../../src/model/entities.js';
import { toJsonText } from '../../src/model/legacy-value.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { SMALL_FIXTURES, expectedOutcome } from '../support/fixtures.js';
import { rejectKeys, targetRows } from '../support/target-rows.js';

const expected = expectedOutcome();

async function migrateFrom(db: TestDatabase, overrides: ConfigOverrides): Promise<RunResult> {
  const config = resolveConfig({ env: {}, overrides: { ...overrides, databaseUrl: db.url } });
  const source = await openConfiguredSource(config);
  try {
    return await runMigration({ source, sql: db.sql, targetSchema: 'public', environment: 'test', batchRows: 150, ledgerOptions: {}, codeVersion: 'test', configHash: 'test' });
  } finally {
    await source.close();
  }
}

/** Every item of every table as JSON text (numbers digit for digit), sorted: what "the same items" means. */
async function itemsOf(source: LegacySource): Promise<Record<LegacyEntity, string[]>> {
  const out = {} as Record<LegacyEntity, string[]>;
  for (const entity of LEGACY_ENTITIES) {
    out[entity] = [];
    for await (const page of source.readTable(entity)) out[entity].push(...page.items.map((item) => toJsonText(item)));
    out[entity].sort();
  }
  return out;
}

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

describe('backup', () => {
  let work: string;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'kpi-migrate-backup-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const database = async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    return db;
  };

  describe('of DynamoDB Local', () => {
    const prefix = `backup-${randomBytes(4).toString('hex')}-`;
    const names = defaultTableNames(prefix);
    const endpoint = () => inject('dynamoDbEndpoint');
    const dynamodb = (): ConfigOverrides => ({ source: 'dynamodb', dynamodbEndpoint: endpoint(), region: 'local', tablePrefix: prefix, segments: 3, pageLimit: 40 });

    beforeAll(async () => {
      const client = openLocalDynamoDbClient(endpoint());
      try {
        const fixtureNames = defaultTableNames();
        await loadLegacyTables(
          client,
          LEGACY_ENTITIES.map((entity) => ({ table: names[entity], items: readScanDump(path.join(SMALL_FIXTURES, 'scan', `${fixtureNames[entity]}.json`)) })),
        );
      } finally {
        client.destroy();
      }
    });

    it('writes gzip export files and a manifest whose counts and sha256 match the files; restored through --source export it migrates to the same rows as DynamoDB itself', async () => {
      const out = path.join(work, 'dynamodb');
      const config = resolveConfig({ env: {}, overrides: { ...dynamodb(), databaseUrl: 'pglite://memory' } });
      const startedAt = Date.now();
      const backup = await backupConfiguredSource(config, { out });

      const reads = Object.fromEntries(LEGACY_ENTITIES.map((entity) => [entity, expected.tables[entity].read]));
      expect(backup.items).toEqual(reads);
      expect(backup.sourceKind).toBe('dynamodb');
      const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as typeof backup.manifest;
      expect(manifest).toEqual(backup.manifest);
      expect(manifest.format).toBe('dynamodb-export');
      // The real time of the backup, not a fixed one.
      expect(Date.parse(manifest.createdAt)).toBeGreaterThanOrEqual(Math.floor(startedAt / 1000) * 1000);
      expect(manifest.tables).toEqual(Object.fromEntries(LEGACY_ENTITIES.map((entity) => [names[entity], { itemCount: reads[entity], layout: 'flat' }])));
      for (const entity of LEGACY_ENTITIES) {
        const files = manifest.files.filter((f) => f.path.startsWith(`${names[entity]}/`));
        expect(files.map((f) => f.path)).toEqual([`${names[entity]}/part-00000.json.gz`]);
        expect(files.reduce((sum, f) => sum + f.items!, 0)).toBe(reads[entity]);
      }
      for (const file of manifest.files) expect(await sha256(path.join(out, file.path)), file.path).toBe(file.sha256);
      // Nothing but the backup, and no partial directory left behind.
      expect((await readdir(work)).filter((name) => name.startsWith('dynamodb'))).toEqual(['dynamodb']);

      const fromBackup = await database();
      const fromDynamoDb = await database();
      const restored = await migrateFrom(fromBackup, { source: 'export', exportDir: out, tablePrefix: prefix });
      const direct = await migrateFrom(fromDynamoDb, dynamodb());
      for (const entity of LEGACY_ENTITIES) {
        const { read, migrated, rejected, skipped, rejectsByReason } = direct.counts.entities[entity]!;
        expect(restored.counts.entities[entity], entity).toMatchObject({ read, migrated, rejected, skipped, rejectsByReason });
        expect({ entity, read, migrated, rejected: rejectsByReason }).toEqual({
          entity,
          read: expected.tables[entity].read,
          migrated: expected.tables[entity].migrated,
          rejected: expected.tables[entity].rejected,
        });
      }
      const rows = await targetRows(fromDynamoDb.sql);
      expect(rows.links).toHaveLength(expected.kpiLinks);
      expect(await targetRows(fromBackup.sql)).toEqual(rows);
      expect(await rejectKeys(fromBackup.sql, restored.runId)).toEqual(await rejectKeys(fromDynamoDb.sql, direct.runId));
    });

    it('as a command: backup --out DIR with the source options', async () => {
      const out = path.join(work, 'dynamodb-cli');
      const printed: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = ((chunk: string) => printed.push(String(chunk)) > 0) as typeof process.stdout.write;
      try {
        await yargs([
          'backup', '--out', out, '--source', 'dynamodb', '--dynamodb-endpoint', endpoint(), '--region', 'local',
          '--table-prefix', prefix, '--layout', 's3', '--database-url', 'pglite://memory',
        ])
          .command(backupCommand as never)
          .strict()
          .fail((message, error) => {
            throw error ?? new Error(message);
          })
          .parseAsync();
      } finally {
        process.stdout.write = write;
      }
      expect(printed.join('')).toContain(`backup of the dynamodb source written to ${out}`);
      // The Export-to-S3 layout is read back with its per-file md5 and item counts checked.
      const source = createExportSource({ dir: out, tableNames: names });
      const scan = (await openConfiguredSource(resolveConfig({ env: {}, overrides: { ...dynamodb(), databaseUrl: 'pglite://memory' } })));
      try {
        expect(await itemsOf(source)).toEqual(await itemsOf(scan));
      } finally {
        await scan.close();
      }
      expect((await readdir(path.join(out, names.KpiActual, 'AWSDynamoDB'))).length).toBe(1);
    });
  });

  it('of export files (both layouts, scan dumps): the same items, digit for digit', async () => {
    for (const fixture of ['export', 'scan']) {
      const source = createExportSource({ dir: path.join(SMALL_FIXTURES, fixture), tableNames: defaultTableNames() });
      const out = path.join(work, `from-${fixture}`);
      const backup = await backupSource(source, { out, tableNames: defaultTableNames(), itemsPerFile: 40 });
      expect(backup.manifest.files.filter((f) => f.path.startsWith('purposepath-kpi-actuals/')).map((f) => f.items)).toEqual([40, 40, 40]);
      expect(await itemsOf(createExportSource({ dir: out, tableNames: defaultTableNames() }))).toEqual(await itemsOf(source));
    }
  });

  it('of a kv_store table: the same items, read back as export files', async () => {
    const db = await database();
    await loadKvStore(db.sql, path.join(SMALL_FIXTURES, 'kv', 'kv_store.jsonl'), { table: 'legacy_kv_store' });
    const source = createKvSource({ sql: db.sql, table: 'legacy_kv_store' });
    const out = path.join(work, 'kv');
    const backup = await backupSource(source, { out, tableNames: defaultTableNames('restored-') });
    const kvExpected = expectedOutcome(path.join(SMALL_FIXTURES, 'kv'));
    expect(backup.items).toEqual(Object.fromEntries(LEGACY_ENTITIES.map((entity) => [entity, kvExpected.tables[entity].read])));
    expect(await itemsOf(createExportSource({ dir: out, tableNames: defaultTableNames('restored-') }))).toEqual(await itemsOf(source));
  });

  it('refuses a record the source could not read as an item (it would be written as another, readable record), leaving nothing behind', async () => {
    const db = await database();
    await db.sql.exec('create table odd_kv_store (key text primary key, value jsonb)');
    await db.sql.exec(`insert into odd_kv_store values ('kpi:b0000000-0000-4000-8000-000000000001', '[1, 2]')`);
    const out = path.join(work, 'unreadable');
    const error = await backupSource(createKvSource({ sql: db.sql, table: 'odd_kv_store' }), { out, tableNames: defaultTableNames() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrateError);
    expect(error).toMatchObject({
      code: 'SOURCE_CORRUPT',
      message: 'value: a JSON array, not a JSON object (kv row kpi:b0000000-0000-4000-8000-000000000001 of "odd_kv_store"): a backup holds DynamoDB JSON items, and this record is none',
      details: { entity: 'Kpi', sourceId: 'b0000000-0000-4000-8000-000000000001' },
    });
    expect((await readdir(work)).filter((name) => name.startsWith('unreadable'))).toEqual([]);
  });

  it('refuses a directory that is not empty, and writes nothing into it', async () => {
    const out = path.join(work, 'occupied');
    await mkdir(out);
    await writeFile(path.join(out, 'notes.txt'), 'mine');
    const source = createExportSource({ dir: path.join(SMALL_FIXTURES, 'export'), tableNames: defaultTableNames() });
    const error = await backupSource(source, { out, tableNames: defaultTableNames() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrateError);
    expect(error).toMatchObject({ code: 'USAGE', message: `backup directory ${out} is not empty: a backup never mixes with other files` });
    expect(await readdir(out)).toEqual(['notes.txt']);
    expect((await readdir(work)).filter((name) => name.startsWith('occupied'))).toEqual(['occupied']);
  });

  it('leaves nothing behind when the source fails halfway', async () => {
    const out = path.join(work, 'broken');
    const good = createExportSource({ dir: path.join(SMALL_FIXTURES, 'export'), tableNames: defaultTableNames() });
    const failing: LegacySource = {
      ...good,
      async *readTable(entity, from) {
        if (entity === 'KpiActual') throw new MigrateError('SOURCE_UNAVAILABLE', 'the source went away');
        yield* good.readTable(entity, from);
      },
    };
    await expect(backupSource(failing, { out, tableNames: defaultTableNames() })).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
    expect((await readdir(work)).filter((name) => name.startsWith('broken'))).toEqual([]);
  });
});
