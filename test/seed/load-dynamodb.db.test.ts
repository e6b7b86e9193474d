import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BatchWriteItemCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  type BatchWriteItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { LEGACY_ENTITIES, defaultTableNames } from '../../src/model/entities.js';
import { LegacyNumber, type LegacyValue } from '../../src/model/legacy-value.js';
import { fromAttributeMap } from '../../src/extract/dynamodb-json.js';
import { planLegacyData } from '../../src/seed/generate.js';
import {
  createLegacyTables,
  enableStreams,
  loadLegacyTables,
  loadScanDumpDirectory,
  openLocalDynamoDbClient,
  putItems,
  readScanDump,
} from '../../src/seed/load-dynamodb.js';
import { SMALL_FIXTURE_DIR } from '../../src/seed/write-fixtures.js';
import { seed } from '../../src/seed/index.js';

async function countItems(client: DynamoDBClient, table: string): Promise<number> {
  let count = 0;
  let start: Record<string, never> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: table, Select: 'COUNT', ExclusiveStartKey: start, Limit: 2000 }));
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey as typeof start;
  } while (start);
  return count;
}

/** DynamoDB stores numbers normalised (no trailing fractional zeros): compare them that way. */
function normalised(value: LegacyValue): LegacyValue {
  if (value instanceof LegacyNumber) return value.text.includes('.') ? value.text.replace(/\.?0+$/, '') : value.text;
  if (Array.isArray(value)) return value.map(normalised);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && !('kind' in value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalised(v as LegacyValue)]));
  }
  return value;
}

describe('DynamoDB loader', () => {
  let client: DynamoDBClient;
  const created: string[] = [];
  const prefix = (label: string) => `seedtest-${label}-${randomBytes(4).toString('hex')}-`;

  beforeAll(() => {
    client = openLocalDynamoDbClient(inject('dynamoDbEndpoint'));
  });
  afterAll(async () => {
    for (const table of created) await client.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
    client.destroy();
  });

  it('creates the six tables and puts every generated item, binary and 38-digit numbers intact', async () => {
    const plan = planLegacyData({ items: 150, seed: 31 });
    const names = defaultTableNames(prefix('gen'));
    created.push(...Object.values(names));
    const written = await loadLegacyTables(
      client,
      LEGACY_ENTITIES.map((entity) => ({ table: names[entity], items: plan.tableItems(entity) })),
    );
    for (const entity of LEGACY_ENTITIES) {
      expect(written[names[entity]]).toBe(plan.expected().tables[entity].read);
      expect(await countItems(client, names[entity])).toBe(plan.expected().tables[entity].read);
    }
    // DynamoDB rewrites exponent forms of N: compare the items without them, binary and 38 digits included.
    let compared = 0;
    for (const item of plan.tableItems('KpiActual')) {
      const hasExponent = JSON.stringify(item).match(/"N":"[^"]*E/);
      if (hasExponent) continue;
      const { Item } = await client.send(new GetItemCommand({ TableName: names.KpiActual, Key: { Id: item.Id! } }));
      const stored = fromAttributeMap(Item!);
      const original = fromAttributeMap(item);
      // Sets come back in DynamoDB's order.
      for (const value of [stored, original]) for (const name of ['Tags', 'Scores', 'Attachments']) delete value[name];
      expect(normalised(stored)).toEqual(normalised(original));
      if (++compared >= 40) break;
    }
    expect(compared).toBe(40);
  });

  it('loads the committed scan dumps, read as a stream', async () => {
    const names = defaultTableNames(prefix('dump'));
    created.push(...Object.values(names));
    const expected = JSON.parse(await readFile(path.join(SMALL_FIXTURE_DIR, 'expected.json'), 'utf8'));
    const tables = LEGACY_ENTITIES.map((entity) => ({
      table: names[entity],
      items: readScanDump(path.join(SMALL_FIXTURE_DIR, 'scan', `${defaultTableNames()[entity]}.json`)),
    }));
    await loadLegacyTables(client, tables, { concurrency: 2 });
    for (const entity of LEGACY_ENTITIES) expect(await countItems(client, names[entity])).toBe(expected.tables[entity].read);
  });

  it('loads a `dynamodb` seed directory under the seed’s table names', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'kpi-seed-dyn-'));
    try {
      const names = defaultTableNames(prefix('seed'));
      created.push(...Object.values(names));
      const { expected } = await seed({ items: 60, seed: 2, out: dir, format: 'dynamodb', tableNames: names });
      const written = await loadScanDumpDirectory(client, dir, names);
      for (const entity of LEGACY_ENTITIES) expect(written[names[entity]]).toBe(expected.tables[entity].read);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to create a table that exists unless told to keep it', async () => {
    const table = `${prefix('exists')}t`;
    created.push(table);
    await createLegacyTables(client, [table]);
    const error = await createLegacyTables(client, [table]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as MigrateError).code).toBe('USAGE');
    await expect(createLegacyTables(client, [table], { ifExists: 'keep' })).resolves.toBeUndefined();
  });

  it('enables a stream on loaded tables: the stream carries the writes made after it, not the load', async () => {
    const table = `${prefix('stream')}t`;
    created.push(table);
    const endpoint = inject('dynamoDbEndpoint');
    const streams = new DynamoDBStreamsClient({ endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    try {
      await loadLegacyTables(client, [{ table, items: Array.from({ length: 60 }, (_, i) => ({ Id: { S: `loaded-${i}` } })) }]);
      const arns = await enableStreams(client, [table], 'NEW_AND_OLD_IMAGES');
      expect(arns[table]).toMatch(/\/stream\//);
      // Enabling it again with the same view changes nothing; another view is refused.
      expect(await enableStreams(client, [table], 'NEW_AND_OLD_IMAGES')).toEqual(arns);
      const refused = await enableStreams(client, [table], 'NEW_IMAGE').catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(MigrateError);
      expect((refused as MigrateError).code).toBe('USAGE');

      await client.send(new PutItemCommand({ TableName: table, Item: { Id: { S: 'loaded-7' }, Revision: { N: '1' } } }));
      await client.send(new PutItemCommand({ TableName: table, Item: { Id: { S: 'after-0' } } }));
      const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: arns[table] }));
      const ids: string[] = [];
      for (const shard of StreamDescription?.Shards ?? []) {
        const { ShardIterator } = await streams.send(new GetShardIteratorCommand({ StreamArn: arns[table], ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
        const { Records } = await streams.send(new GetRecordsCommand({ ShardIterator, Limit: 1000 }));
        for (const record of Records ?? []) ids.push(`${record.eventName} ${record.dynamodb?.Keys?.Id?.S}`);
      }
      expect(ids).toEqual(['MODIFY loaded-7', 'INSERT after-0']);
    } finally {
      streams.destroy();
    }
  });

  it('retries what BatchWriteItem leaves unprocessed until every item is in (fault injection)', async () => {
    const table = `${prefix('retry')}t`;
    created.push(table);
    await createLegacyTables(client, [table]);
    let calls = 0;
    // Every other call, DynamoDB "takes" only the first 5 requests and hands the rest back.
    const flaky = {
      async send(command: BatchWriteItemCommand): Promise<BatchWriteItemCommandOutput> {
        calls += 1;
        const requests = command.input.RequestItems![table]!;
        if (calls % 2 === 1 && requests.length > 5) {
          await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests.slice(0, 5) } }));
          return { UnprocessedItems: { [table]: requests.slice(5) }, $metadata: {} };
        }
        return client.send(command);
      },
    } as unknown as DynamoDBClient;
    const items = Array.from({ length: 120 }, (_, i) => ({ Id: { S: `item-${i}` }, N: { N: String(i) } }));
    expect(await putItems(flaky, table, items, { backoffMs: 1 })).toBe(120);
    expect(calls).toBeGreaterThan(5);
    expect(await countItems(client, table)).toBe(120);
  });

  it('gives up with a MigrateError when DynamoDB makes no progress', async () => {
    const stuck = {
      async send(command: BatchWriteItemCommand): Promise<BatchWriteItemCommandOutput> {
        return { UnprocessedItems: command.input.RequestItems, $metadata: {} };
      },
    } as unknown as DynamoDBClient;
    const items = Array.from({ length: 30 }, (_, i) => ({ Id: { S: `item-${i}` } }));
    const error = await putItems(stuck, 'nowhere', items, { backoffMs: 1, maxStalledRounds: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as MigrateError).message).toMatch(/unprocessed 3 times/);
  });
});
