import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openSource, type LegacySource } from '../../src/extract/index.js';
import { defaultTableNames, type LegacyEntity } from '../../src/model/entities.js';
import { LegacySet, toJsonText, type LegacyItem } from '../../src/model/legacy-value.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createLegacyTable, deleteTable, localClient, putItems } from './dynamodb-tables.js';
import { writeFlatDirectory, writeJsonLines, writeS3Export, writeScanDump } from './export-files.js';
import { buildItems, plainJsonView, readPages, sortedById, uniqueName } from './legacy-items.js';

const ENTITY: LegacyEntity = 'KpiMilestone';
const endpoint = inject('dynamoDbEndpoint');
const tableNames = defaultTableNames(uniqueName('same-'));
const table = tableNames[ENTITY];
const items = buildItems(400, { typed: true, salt: 31 });
const client = localClient(endpoint);
let root: string;
let db: TestDatabase;

async function readAll(source: LegacySource): Promise<LegacyItem[]> {
  try {
    return sortedById((await readPages(source, ENTITY)).items);
  } finally {
    await source.close();
  }
}

const hasTypedOnlyValues = (item: LegacyItem) => Object.values(item).some((v) => v instanceof Uint8Array || v instanceof LegacySet);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kpi-extract-same-'));
  db = await createTestDatabase();
  await createLegacyTable(client, table);
  await Promise.all([
    putItems(client, table, items),
    writeFlatDirectory(join(root, 'flat'), table, items, { files: 3 }),
    writeJsonLines(join(root, 'jsonl'), table, items, true),
    writeS3Export(join(root, 's3'), table, items, { files: 4 }),
    writeScanDump(join(root, 'dump'), table, items),
  ]);
  await db.sql.exec('create table kv_store (key text primary key, value jsonb)');
  await db.sql.query(`insert into kv_store select k, v::jsonb from unnest($1::text[], $2::text[]) as t(k, v)`, [
    items.map((item) => `kpi_milestone:${String(item.Id)}`),
    items.map(toJsonText),
  ]);
});

afterAll(async () => {
  await deleteTable(client, table);
  client.destroy();
  await db?.drop();
  await rm(root, { recursive: true, force: true });
});

describe('the same item set from every kind of source', () => {
  it('yields deep-equal legacy items (sorted by Id) from DynamoDB, export files of each layout, a scan dump and kv_store', async () => {
    const fromDynamoDb = await readAll(
      await openSource({ kind: 'dynamodb', endpoint, region: 'local', credentials: { accessKeyId: 'l', secretAccessKey: 'l' }, tableNames, segments: 3, pageLimit: 100 }),
    );
    expect(fromDynamoDb).toEqual(sortedById(items));
    for (const layout of ['flat', 'jsonl', 's3', 'dump']) {
      const fromFiles = await readAll(await openSource({ kind: 'export', dir: join(root, layout), tableNames, pageSize: 70 }));
      expect(fromFiles, layout).toEqual(fromDynamoDb);
    }
    const fromKv = await readAll(await openSource({ kind: 'kv', sql: db.sql, pageSize: 90 }));
    // Plain JSON has no binary or sets: kv_store holds them as base64 text and arrays, as toJsonText wrote them.
    expect(fromKv).toEqual(sortedById(items.map((item) => plainJsonView(item) as LegacyItem)));
    const jsonOnly = fromDynamoDb.filter((item) => !hasTypedOnlyValues(item));
    expect(jsonOnly.length).toBeGreaterThan(300);
    expect(fromKv.filter((item) => jsonOnly.some((j) => j.Id === item.Id))).toEqual(jsonOnly);
  });
});
