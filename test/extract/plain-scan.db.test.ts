import { ScanCommand, type DynamoDBClient, type ScanCommandInput } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sendPlainScan, type ScannedItems } from '../../src/extract/plain-scan.js';
import { createDynamoDbSource } from '../../src/extract/dynamodb-source.js';
import { fromAttributeMap, type TypedItem } from '../../src/model/dynamodb-json.js';
import { defaultTableNames, type TableNames } from '../../src/model/entities.js';
import type { LegacyItem } from '../../src/model/legacy-value.js';
import { injectFaults } from '../faults/dynamodb-faults.js';
import { createLegacyTable, deleteTable, localClient, putItems } from './dynamodb-tables.js';
import { buildItems, ids, readPages, sortedById, uniqueName } from './legacy-items.js';

const ITEM_COUNT = 300;
const endpoint = inject('dynamoDbEndpoint');
let client: DynamoDBClient;
let tableNames: TableNames;
let items: LegacyItem[];

beforeAll(async () => {
  client = localClient(endpoint);
  tableNames = defaultTableNames(uniqueName('plain-'));
  // Typed items: binary, the three set kinds, nested maps and lists, NULL, 38-digit numbers.
  items = buildItems(ITEM_COUNT, { typed: true, salt: 23 });
  await createLegacyTable(client, tableNames.KpiActual);
  await putItems(client, tableNames.KpiActual, items);
});

afterAll(async () => {
  await deleteTable(client, tableNames.KpiActual);
  client?.destroy();
});

function parsedAll(items: ScannedItems): TypedItem[] {
  return Array.from({ length: items.count }, (_, index) => {
    const item = items.parse(index);
    expect(item).toBeDefined();
    // Parsed anew at each call: nothing of a page is kept as objects.
    expect(items.parse(index)).not.toBe(item);
    expect(JSON.parse(items.text(index))).toEqual(item);
    return item!;
  });
}

/** Every page of a one-segment Scan, read with `scan`. */
async function allPages<Output extends { LastEvaluatedKey?: Record<string, unknown> }>(scan: (input: ScanCommandInput) => Promise<Output>): Promise<Output[]> {
  const pages: Output[] = [];
  let startKey: ScanCommandInput['ExclusiveStartKey'];
  do {
    const page = await scan({ TableName: tableNames.KpiActual, Limit: 70, ReturnConsumedCapacity: 'TOTAL', ...(startKey ? { ExclusiveStartKey: startKey } : {}) });
    pages.push(page);
    startKey = page.LastEvaluatedKey && Object.keys(page.LastEvaluatedKey).length > 0 ? (page.LastEvaluatedKey as ScanCommandInput['ExclusiveStartKey']) : undefined;
  } while (startKey !== undefined);
  return pages;
}

describe('a Scan parsed once (plain items)', () => {
  it('gives the items the SDK gives, as DynamoDB JSON, and the rest of the answer as the SDK reads it', async () => {
    const sdk = await allPages((input) => client.send(new ScanCommand(input)));
    const plain = await allPages((input) => sendPlainScan(client, input));
    expect(plain).toHaveLength(sdk.length);
    for (const [at, page] of plain.entries()) {
      const expected = sdk[at]!;
      expect(parsedAll(page.Items).map((item) => fromAttributeMap(item as Record<string, object>))).toEqual(expected.Items!.map((item) => fromAttributeMap(item)));
      expect(page.LastEvaluatedKey).toEqual(expected.LastEvaluatedKey);
      expect(page.Count).toBe(expected.Count);
      expect(page.ScannedCount).toBe(expected.ScannedCount);
      expect(page.ConsumedCapacity).toEqual(expected.ConsumedCapacity);
    }
    const read = plain.flatMap((page) => parsedAll(page.Items).map((item) => fromAttributeMap(item as Record<string, object>)));
    expect(sortedById(read)).toEqual(sortedById(items));
    // Binary as the answer held it: base64 text, not bytes decoded by the SDK.
    const withBlob = plain.flatMap((page) => parsedAll(page.Items)).find((item) => item.Blob !== undefined) as { Blob: { B: unknown }; Blobs: { BS: unknown[] } };
    expect(typeof withBlob.Blob.B).toBe('string');
    expect(withBlob.Blobs.BS.every((member) => typeof member === 'string')).toBe(true);
  });

  it('an error answer is still the SDK exception a throttle is (the answer is left to the SDK)', async () => {
    const faulty = localClient(endpoint);
    injectFaults(faulty, (command) => (command === 'ScanCommand' ? 'throughputExceeded' : undefined));
    const error = (await sendPlainScan(faulty, { TableName: tableNames.KpiActual, Limit: 10 }).catch((e: unknown) => e)) as Error & { $metadata?: { httpStatusCode?: number } };
    expect(error.name).toBe('ProvisionedThroughputExceededException');
    expect(error.$metadata?.httpStatusCode).toBe(400);
    faulty.destroy();
  });

  it('through the source: throttled and failing answers are retried and counted, and every item is read once', async () => {
    const faulty = localClient(endpoint);
    let scans = 0;
    const injected = injectFaults(faulty, (command) => {
      if (command !== 'ScanCommand') return undefined;
      scans += 1;
      return scans % 3 === 0 ? 'throughputExceeded' : scans % 7 === 0 ? 'internalServerError' : undefined;
    });
    const source = createDynamoDbSource({ client: faulty, tableNames, segments: 3, pageLimit: 40, retry: { baseMs: 1, capMs: 4 } });
    const { items: read } = await readPages(source, 'KpiActual');
    expect(sortedById(read)).toEqual(sortedById(items));
    expect(source.stats().throttles).toBe(injected.throughputExceeded);
    expect(source.stats().retries).toBe(injected.throughputExceeded + injected.internalServerError);
    expect(injected.internalServerError).toBeGreaterThan(0);
    await source.close();
    faulty.destroy();
  });
});

describe('a segment reads one page ahead', () => {
  it('asks for the next page before handing this one over, and a consumer that stops early loses nothing it took', async () => {
    const watched = localClient(endpoint);
    let scans = 0;
    watched.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ScanCommand') scans += 1;
        return next(args);
      },
      { step: 'initialize', priority: 'high', name: 'countScans' },
    );
    const source = createDynamoDbSource({ client: watched, tableNames, segments: 1, pageLimit: 50 });
    const pages = source.readTypedTable!('KpiActual')[Symbol.asyncIterator]();
    const first = await pages.next();
    expect(first.done).toBe(false);
    // The first page and the one after it: DynamoDB reads while the consumer maps.
    expect(scans).toBe(2);
    await pages.return?.(undefined);
    expect(source.stats()).toMatchObject({ pages: 1, items: 50 });
    // Resumed from the first page's position, the rest is every other item, once.
    const page = first.value as { count: number; item(index: number): LegacyItem; partition: string; position: Record<string, unknown>; done: boolean };
    const taken = Array.from({ length: page.count }, (_, index) => page.item(index));
    const rest = await readPages(createDynamoDbSource({ client: watched, tableNames, segments: 1, pageLimit: 50 }), 'KpiActual', {
      from: { [page.partition]: { position: page.position, done: page.done } },
    });
    expect(new Set(ids([...taken, ...rest.items])).size).toBe(ITEM_COUNT);
    watched.destroy();
  });
});
