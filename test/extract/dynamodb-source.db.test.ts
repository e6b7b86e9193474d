import { DynamoDBClient, ProvisionedThroughputExceededException, DynamoDBServiceException, CreateTableCommand, type ScanCommandInput } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDynamoDbSource, keyToPosition, positionToKey, type DynamoDbSourceOptions } from '../../src/extract/dynamodb-source.js';
import { MigrateError } from '../../src/errors.js';
import { defaultTableNames, type LegacyEntity, type TableNames } from '../../src/model/entities.js';
import type { LegacyItem } from '../../src/model/legacy-value.js';
import { createLegacyTable, deleteTable, localClient, putItems } from './dynamodb-tables.js';
import { buildItems, ids, partitionsEndWithDone, readPages, sortedById, uniqueName } from './legacy-items.js';

const ENTITY: LegacyEntity = 'KpiActual';
const ITEM_COUNT = 1500;
const endpoint = inject('dynamoDbEndpoint');
let client: DynamoDBClient;
let tableNames: TableNames;
let items: LegacyItem[];
const created: string[] = [];

function source(options: Partial<DynamoDbSourceOptions> = {}) {
  return createDynamoDbSource({ endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, tableNames, ...options });
}

/** A caller-owned client whose `n`th calls (as `fail` decides) throw `error()` before reaching DynamoDB. */
function faultyClient(fail: (call: number, command: string) => boolean, error: () => Error): { client: DynamoDBClient; commands: string[] } {
  const faulty = localClient(endpoint);
  const commands: string[] = [];
  faulty.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName);
      commands.push(command);
      if (fail(commands.length, command)) throw error();
      return next(args);
    },
    { step: 'finalizeRequest', name: 'injectFault' },
  );
  return { client: faulty, commands };
}

beforeAll(async () => {
  client = localClient(endpoint);
  tableNames = defaultTableNames(uniqueName('ddb-'));
  items = buildItems(ITEM_COUNT, { typed: true, salt: 11 });
  await createLegacyTable(client, tableNames[ENTITY]);
  created.push(tableNames[ENTITY]);
  await putItems(client, tableNames[ENTITY], items);
});

afterAll(async () => {
  for (const name of created) await deleteTable(client, name);
  client?.destroy();
});

describe('DynamoDB source: parallel scan', () => {
  it.each([1, 4, 8])('%i segment(s): every item exactly once, deep-equal to what was written', async (segments) => {
    const reader = source({ segments, pageLimit: 200 });
    const started = performance.now();
    const { pages, items: read } = await readPages(reader, ENTITY);
    const seconds = (performance.now() - started) / 1000;
    console.info(`dynamodb scan, ${segments} segment(s): ${Math.round(read.length / seconds)} items/s`);
    expect(read).toHaveLength(ITEM_COUNT);
    expect(sortedById(read)).toEqual(sortedById(items));
    expect(new Set(pages.map((p) => p.partition))).toEqual(new Set(Array.from({ length: segments }, (_, i) => `segment-${i}-of-${segments}`)));
    expect(partitionsEndWithDone(pages)).toBe(true);
    expect(pages.every((p) => p.items.length <= 200 && p.entity === ENTITY)).toBe(true);
    expect(reader.stats()).toMatchObject({ pages: pages.length, items: ITEM_COUNT, throttles: 0 });
    await reader.close();
  });

  it('workers K/N for K = 1..N cover every segment exactly once, and so every item', async () => {
    for (const [count, segments] of [
      [3, 8],
      [2, 4],
    ] as const) {
      const partitions: string[] = [];
      const read: LegacyItem[] = [];
      for (let index = 1; index <= count; index++) {
        const reader = source({ segments, worker: { index, count }, pageLimit: 300 });
        const result = await readPages(reader, ENTITY);
        const mine = [...new Set(result.pages.map((p) => p.partition))];
        expect(mine.every((p) => Number(/segment-(\d+)-of/.exec(p)![1]) % count === index - 1)).toBe(true);
        partitions.push(...mine);
        read.push(...result.items);
        await reader.close();
      }
      expect(partitions.sort()).toEqual(Array.from({ length: segments }, (_, i) => `segment-${i}-of-${segments}`).sort());
      expect(read).toHaveLength(ITEM_COUNT);
      expect(new Set(ids(read)).size).toBe(ITEM_COUNT);
    }
  });

  it('without segments, DescribeTable decides (one for a small table); workers must agree on an explicit count', async () => {
    const single = await readPages(source({ pageLimit: 500 }), ENTITY);
    expect(new Set(single.pages.map((p) => p.partition))).toEqual(new Set(['segment-0-of-1']));
    expect(() => source({ worker: { index: 2, count: 3 } })).toThrow(/explicit segment count/);
    expect(() => source({ segments: 4, worker: { index: 4, count: 3 } })).toThrow(MigrateError);
    // More workers than segments: the spare worker reads nothing.
    expect((await readPages(source({ segments: 2, worker: { index: 3, count: 3 } }), ENTITY)).pages).toEqual([]);
  });

  it('an interrupted scan resumed from the committed positions reads every item exactly once', async () => {
    for (const k of [1, 3, 7]) {
      const reader = source({ segments: 4, pageLimit: 100 });
      const first = await readPages(reader, ENTITY, { maxPages: k });
      expect(first.pages).toHaveLength(k);
      // A second crash, then the rest: positions carry over as JSON.
      const second = await readPages(source({ segments: 4, pageLimit: 100 }), ENTITY, { from: first.state, maxPages: 2 });
      const third = await readPages(source({ pageLimit: 100 }), ENTITY, { from: second.state });
      const all = [...first.items, ...second.items, ...third.items];
      expect(all).toHaveLength(ITEM_COUNT);
      expect(new Set(ids(all)).size).toBe(ITEM_COUNT);
      expect(Object.keys(third.state).sort()).toEqual(['segment-0-of-4', 'segment-1-of-4', 'segment-2-of-4', 'segment-3-of-4']);
      expect(Object.values(third.state).every((s) => s.done)).toBe(true);
      expect((await readPages(source({ pageLimit: 100 }), ENTITY, { from: third.state })).items).toEqual([]);
    }
  });

  it('a resume state from another segment count or another kind of source is refused', async () => {
    const first = await readPages(source({ segments: 4, pageLimit: 100 }), ENTITY, { maxPages: 2 });
    const otherCount = await readPages(source({ segments: 8 }), ENTITY, { from: first.state }).catch((e: unknown) => e);
    expect(otherCount).toBeInstanceOf(MigrateError);
    expect((otherCount as MigrateError).code).toBe('CONFIG_INVALID');
    const otherKind = await readPages(source(), ENTITY, { from: { keyspace: { position: { lastKey: 'x' }, done: false } } }).catch((e: unknown) => e);
    expect((otherKind as MigrateError).code).toBe('RUN_STATE');
  });

  it('binary keys survive a resume (LastEvaluatedKey travels as base64 JSON)', async () => {
    const name = uniqueName('binkey');
    await client.send(
      new CreateTableCommand({
        TableName: name,
        AttributeDefinitions: [{ AttributeName: 'Key', AttributeType: 'B' }],
        KeySchema: [{ AttributeName: 'Key', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    created.push(name);
    const binaryItems = Array.from({ length: 120 }, (_, i) => ({ ...items[i]!, Key: new Uint8Array([i, 255 - i, 0, 7]) }));
    await putItems(client, name, binaryItems);
    const names = { ...tableNames, [ENTITY]: name };
    const first = await readPages(source({ tableNames: names, segments: 1, pageLimit: 25 }), ENTITY, { maxPages: 2 });
    const position = first.state['segment-0-of-1']!.position!;
    expect(typeof (position.lastEvaluatedKey as { Key: { B: unknown } }).Key.B).toBe('string');
    const rest = await readPages(source({ tableNames: names, segments: 1, pageLimit: 25 }), ENTITY, { from: first.state });
    expect(sortedById([...first.items, ...rest.items])).toEqual(sortedById(binaryItems));
  });

  it('LastEvaluatedKey ↔ position round-trips S, N and B keys', () => {
    const key = { Id: { S: 'a' }, Sort: { N: '12345678901234567890123456789012345678' }, Raw: { B: new Uint8Array([0, 1, 254]) } };
    const position = JSON.parse(JSON.stringify(keyToPosition(key))) as ReturnType<typeof keyToPosition>;
    expect(positionToKey(position, 'segment-0-of-1')).toEqual(key);
    expect(() => positionToKey({ lastEvaluatedKey: { Id: { X: 1 } } }, 'segment-0-of-1')).toThrow(MigrateError);
  });
});

describe('DynamoDB source: the next table asked for ahead', () => {
  const NEXT: LegacyEntity = 'KpiReading';
  const NEXT_COUNT = 700;
  let nextItems: LegacyItem[];

  beforeAll(async () => {
    nextItems = buildItems(NEXT_COUNT, { typed: true, salt: 12 });
    await createLegacyTable(client, tableNames[NEXT]);
    created.push(tableNames[NEXT]);
    await putItems(client, tableNames[NEXT], nextItems);
  });

  /** A caller-owned client that logs every Scan: its table, and whether it starts a segment. */
  function scanLog(): { client: DynamoDBClient; scans: { table: string; first: boolean }[] } {
    const watched = localClient(endpoint);
    const scans: { table: string; first: boolean }[] = [];
    watched.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as ScanCommandInput;
        if (input.TableName !== undefined && input.Select === undefined) scans.push({ table: input.TableName, first: input.ExclusiveStartKey === undefined });
        return next(args);
      },
      { step: 'initialize', name: 'scanLog' },
    );
    return { client: watched, scans };
  }

  it("asks for the first page of each of the next table's segments once this one has asked for its last; the next reading takes them", async () => {
    const { client: watched, scans } = scanLog();
    const reader = source({ client: watched, segments: 4, pageLimit: 100 });
    const ofNext = () => scans.filter((scan) => scan.table === tableNames[NEXT]);
    await readPages(reader, ENTITY, { next: { entity: NEXT } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ofNext()).toEqual(Array.from({ length: 4 }, () => ({ table: tableNames[NEXT], first: true })));
    // Nothing of the next table before the last request of this one.
    const lastOfThis = scans.map((scan) => scan.table).lastIndexOf(tableNames[ENTITY]);
    expect(scans.findIndex((scan) => scan.table === tableNames[NEXT])).toBeGreaterThan(lastOfThis);
    const { pages, items: read } = await readPages(reader, NEXT, { from: {} });
    expect(sortedById(read)).toEqual(sortedById(nextItems));
    expect(partitionsEndWithDone(pages)).toBe(true);
    // Not one request more than pages: the answers asked for ahead were taken, not asked for again.
    expect(ofNext()).toHaveLength(pages.length);
    expect(ofNext().filter((scan) => scan.first)).toHaveLength(4);
    await reader.close();
    watched.destroy();
  });

  it('a reading of the next table from another state drops them and reads every remaining item exactly once', async () => {
    const partial = await readPages(source({ segments: 4, pageLimit: 100 }), NEXT, { maxPages: 3 });
    const { client: watched, scans } = scanLog();
    const reader = source({ client: watched, segments: 4, pageLimit: 100 });
    await readPages(reader, ENTITY, { next: { entity: NEXT } });
    const rest = await readPages(reader, NEXT, { from: partial.state });
    expect(sortedById([...partial.items, ...rest.items])).toEqual(sortedById(nextItems));
    // The four asked for ahead (from the start) went unused; the reading asked for its own.
    const ofNext = scans.filter((scan) => scan.table === tableNames[NEXT]);
    expect(ofNext).toHaveLength(4 + rest.pages.length);
    await reader.close();
    watched.destroy();
  });

  it('a reading from the resume state they were asked from (its partitions in any order) takes them and reads the rest exactly once', async () => {
    const partial = await readPages(source({ segments: 4, pageLimit: 100 }), NEXT, { maxPages: 3 });
    const { client: watched, scans } = scanLog();
    const reader = source({ client: watched, segments: 4, pageLimit: 100 });
    await readPages(reader, ENTITY, { next: { entity: NEXT, from: partial.state } });
    // The same state as the ledger would give it again: another object, partitions in another order.
    const again = Object.fromEntries(Object.entries(structuredClone(partial.state)).reverse());
    const rest = await readPages(reader, NEXT, { from: again });
    expect(sortedById([...partial.items, ...rest.items])).toEqual(sortedById(nextItems));
    expect(scans.filter((scan) => scan.table === tableNames[NEXT])).toHaveLength(rest.pages.length);
    await reader.close();
    watched.destroy();
  });

  it('answers asked for ahead are spent under the read budget, and closing the source aborts what is still out', async () => {
    const plain = source({ segments: 2, pageLimit: 100, maxReadUnits: 1000 });
    await readPages(plain, ENTITY);
    const ahead = source({ segments: 2, pageLimit: 100, maxReadUnits: 1000 });
    await readPages(ahead, ENTITY, { next: { entity: NEXT } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The budget counted the two answers asked for ahead, beyond what the table itself cost.
    expect(ahead.stats().consumedReadUnits).toBeGreaterThan(plain.stats().consumedReadUnits);
    await plain.close();
    await ahead.close();
    const closedEarly = source({ segments: 4, pageLimit: 100 });
    await readPages(closedEarly, ENTITY, { next: { entity: NEXT } });
    await closedEarly.close();
    expect((await readPages(source({ segments: 2, pageLimit: 100 }), NEXT)).items).toHaveLength(NEXT_COUNT);
  });
});

describe('DynamoDB source: throttling, failures, budget', () => {
  it('throttling slows the scan down and loses nothing; the counter shows it', async () => {
    const { client: faulty, commands } = faultyClient(
      (call) => call % 3 === 0,
      () => new ProvisionedThroughputExceededException({ message: 'injected throttle', $metadata: { httpStatusCode: 400 } }),
    );
    const warnings: string[] = [];
    const reader = source({
      client: faulty,
      segments: 4,
      pageLimit: 150,
      retry: { baseMs: 1, capMs: 8 },
      logger: { warn: (m) => warnings.push(m), error: () => {} },
    });
    const { items: read } = await readPages(reader, ENTITY);
    expect(read).toHaveLength(ITEM_COUNT);
    expect(sortedById(read)).toEqual(sortedById(items));
    const stats = reader.stats();
    expect(stats.throttles).toBeGreaterThan(0);
    expect(stats.throttles).toBe(Math.floor(commands.length / 3));
    expect(stats.retries).toBe(stats.throttles);
    expect(warnings[0]).toContain('throttl');
    await reader.close();
    faulty.destroy();
  });

  it('5xx answers are retried like throttles', async () => {
    const { client: faulty } = faultyClient(
      (call) => call % 4 === 2,
      () => new DynamoDBServiceException({ name: 'InternalServerError', $fault: 'server', message: 'injected 500', $metadata: { httpStatusCode: 500 } }),
    );
    const reader = source({ client: faulty, segments: 2, pageLimit: 300, retry: { baseMs: 1, capMs: 4 } });
    const { items: read } = await readPages(reader, ENTITY);
    expect(new Set(ids(read)).size).toBe(ITEM_COUNT);
    expect(reader.stats()).toMatchObject({ throttles: 0 });
    expect(reader.stats().retries).toBeGreaterThan(0);
    faulty.destroy();
  });

  it('a non-retryable error is SOURCE_UNAVAILABLE naming the table and segment', async () => {
    const { client: faulty } = faultyClient(
      (call) => call === 5,
      () => new DynamoDBServiceException({ name: 'AccessDeniedException', $fault: 'client', message: 'not allowed', $metadata: { httpStatusCode: 400 } }),
    );
    const reader = source({ client: faulty, segments: 4, pageLimit: 100 });
    const error = await readPages(reader, ENTITY).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as MigrateError).code).toBe('SOURCE_UNAVAILABLE');
    expect((error as MigrateError).message).toContain(tableNames[ENTITY]);
    expect((error as MigrateError).message).toMatch(/segment-\d-of-4/);
    expect((error as MigrateError).message).toContain('AccessDeniedException');
    faulty.destroy();
  });

  it('a missing table is SOURCE_UNAVAILABLE', async () => {
    const error = await readPages(source(), 'Kpi').catch((e: unknown) => e);
    expect((error as MigrateError).code).toBe('SOURCE_UNAVAILABLE');
    expect((error as MigrateError).message).toContain(tableNames.Kpi);
    const scanned = await readPages(source({ segments: 2 }), 'Kpi').catch((e: unknown) => e);
    expect((scanned as MigrateError).code).toBe('SOURCE_UNAVAILABLE');
  });

  it('maxReadUnits holds the scan to its budget from ConsumedCapacity', async () => {
    // The table costs about 70 units: a 20-unit budget must make the scan wait for about 2.5 s of refill.
    const reader = source({ segments: 2, pageLimit: 100, maxReadUnits: 20 });
    const { items: read } = await readPages(reader, ENTITY);
    expect(read).toHaveLength(ITEM_COUNT);
    const stats = reader.stats();
    expect(stats.consumedReadUnits).toBeGreaterThan(40);
    expect(stats.rateLimitedMs).toBeGreaterThan(0);
  });

  it('counts with Select: COUNT, gets by Id in batches of 100, and never writes', async () => {
    const { client: watched, commands } = faultyClient(() => false, () => new Error('unused'));
    const reader = source({ client: watched, segments: 3, pageLimit: 400 });
    expect(await reader.countItems(ENTITY)).toBe(ITEM_COUNT);
    const wanted = [...items.slice(0, 150).map((i) => String(i.Id)), 'missing-id', String(items[0]!.Id)];
    const got = await reader.getItems(ENTITY, wanted);
    expect(ids(got)).toEqual(ids(items.slice(0, 150)));
    expect(sortedById(got)).toEqual(sortedById(items.slice(0, 150)));
    await readPages(reader, ENTITY, { maxPages: 2 });
    expect(new Set(commands)).toEqual(new Set(['ScanCommand', 'BatchGetItemCommand']));
    watched.destroy();
  });
});
