// The fast path on DynamoDB pages (the SDK's attribute maps as they come) against the full path
// (each item's tree built first), over a seeded data set with every kind of bad record.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { createDynamoDbSource } from '../../src/extract/dynamodb-source.js';
import { defaultTableNames, LEGACY_ENTITIES } from '../../src/model/entities.js';
import { seed } from '../../src/seed/index.js';
import { loadScanDumpDirectory, openLocalDynamoDbClient } from '../../src/seed/load-dynamodb.js';
import { deleteTable } from '../extract/dynamodb-tables.js';
import { fullPathOnly, readAll } from '../support/whole-read.js';

const endpoint = inject('dynamoDbEndpoint');
const tableNames = defaultTableNames(`fast-path-${process.pid}-`);
let client: DynamoDBClient;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'kpi-fast-path-ddb-'));
  await seed({ items: 1500, seed: 5, out: work, format: 'dynamodb', tableNames });
  client = openLocalDynamoDbClient(endpoint);
  await loadScanDumpDirectory(client, work, tableNames);
}, 240_000);

afterAll(async () => {
  for (const entity of LEGACY_ENTITIES) await deleteTable(client, tableNames[entity]).catch(() => {});
  client.destroy();
  await rm(work, { recursive: true, force: true });
});

test('a DynamoDB read gives the same batches with the fast path and without it', async () => {
  const source = createDynamoDbSource({ endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, tableNames, segments: 1 });
  try {
    expect(source.readTypedTable).toBeDefined();
    const withFastPath = await readAll(source);
    const fullPath = await readAll(fullPathOnly(source));
    expect(withFastPath).toEqual(fullPath);
  } finally {
    await source.close();
  }
}, 240_000);
