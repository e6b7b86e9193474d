import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  UpdateTableCommand,
  waitUntilTableExists,
  type AttributeValue,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import StreamJson from 'stream-json';
import PickFilter from 'stream-json/filters/Pick.js';
import StreamArray from 'stream-json/streamers/StreamArray.js';
import { MigrateError } from '../errors.js';
import { quietAwsLogger } from '../extract/aws-logger.js';
import type { AttributeMap, ItemSource } from '../extract/export-writer.js';
import { LEGACY_ENTITIES, type TableNames } from '../model/entities.js';

/**
 * Puts legacy tables into a DynamoDB (Local, for tests, the demo and the bench): creates them
 * as the legacy service had them (key `Id`, on demand) and writes items 25 per BatchWriteItem,
 * a few batches in flight, retrying what DynamoDB leaves unprocessed.
 */

/**
 * The stream a table may carry (what `kpi-migrate sync` follows). A stream on during a large load
 * is slow in DynamoDB Local: each write to a table with a stream runs a query whose cost grows
 * with every stream record the instance holds, every table's (`getStreamDescription`), so the
 * load slows down as it goes. Load first and `enableStreams` after, as the runbook has the
 * operator do on the legacy tables.
 */
export type StreamView = 'NEW_AND_OLD_IMAGES' | 'NEW_IMAGE';

/** A client for DynamoDB Local: any region and keys do, and the quiet logger (measured-facts.md). */
export function openLocalDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    logger: quietAwsLogger,
  });
}

/**
 * Creates each table (PAY_PER_REQUEST, hash key `Id` S) and waits until it is active; with
 * `stream`, each has a DynamoDB Stream of that view (what `kpi-migrate sync` follows).
 */
export async function createLegacyTables(
  client: DynamoDBClient,
  tables: readonly string[],
  options: { ifExists?: 'fail' | 'keep'; stream?: StreamView } = {},
): Promise<void> {
  for (const table of tables) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'Id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'Id', KeyType: 'HASH' }],
          ...(options.stream === undefined ? {} : { StreamSpecification: { StreamEnabled: true, StreamViewType: options.stream } }),
        }),
      );
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) {
        throw new MigrateError('SOURCE_UNAVAILABLE', `cannot create DynamoDB table ${table}: ${(error as Error).message}`, { cause: error });
      }
      if ((options.ifExists ?? 'fail') === 'fail') {
        throw new MigrateError('USAGE', `DynamoDB table ${table} already exists`, { cause: error });
      }
    }
    await waitUntilTableExists({ client, maxWaitTime: 120, minDelay: 1, maxDelay: 5 }, { TableName: table });
  }
}

/**
 * Turns on a DynamoDB Stream of `view` on tables that exist (UpdateTable, the runbook's first
 * step) and waits until each is active with its stream; resolves to each table's stream ARN. A
 * table whose stream is already on with that view is left as it is; another view is refused.
 */
export async function enableStreams(
  client: DynamoDBClient,
  tables: readonly string[],
  view: StreamView,
  options: { maxWaitSeconds?: number } = {},
): Promise<Record<string, string>> {
  const arns: Record<string, string> = {};
  for (const table of tables) {
    const current = await describeTable(client, table);
    const specification = current.StreamSpecification;
    if (specification?.StreamEnabled === true && specification.StreamViewType !== view) {
      throw new MigrateError('USAGE', `DynamoDB table ${table} already has a stream of view ${specification.StreamViewType}, not ${view}`);
    }
    if (specification?.StreamEnabled !== true) {
      try {
        await client.send(new UpdateTableCommand({ TableName: table, StreamSpecification: { StreamEnabled: true, StreamViewType: view } }));
      } catch (error) {
        throw new MigrateError('SOURCE_UNAVAILABLE', `cannot enable a stream on DynamoDB table ${table}: ${(error as Error).message}`, { cause: error });
      }
    }
    arns[table] = await waitForStream(client, table, options.maxWaitSeconds ?? 120);
  }
  return arns;
}

async function describeTable(client: DynamoDBClient, table: string) {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    if (Table === undefined) throw new Error('DescribeTable answered no table');
    return Table;
  } catch (error) {
    if (error instanceof MigrateError) throw error;
    throw new MigrateError('SOURCE_UNAVAILABLE', `cannot describe DynamoDB table ${table}: ${(error as Error).message}`, { cause: error });
  }
}

/** AWS takes the update in the background (the table is UPDATING meanwhile); Local at once. */
async function waitForStream(client: DynamoDBClient, table: string, maxWaitSeconds: number): Promise<string> {
  const deadline = Date.now() + maxWaitSeconds * 1000;
  for (let delayMs = 100; ; delayMs = Math.min(5000, delayMs * 2)) {
    const described = await describeTable(client, table);
    if (described.TableStatus === 'ACTIVE' && described.StreamSpecification?.StreamEnabled === true && described.LatestStreamArn !== undefined) {
      return described.LatestStreamArn;
    }
    if (Date.now() > deadline) {
      throw new MigrateError('SOURCE_UNAVAILABLE', `DynamoDB table ${table} has no active stream ${maxWaitSeconds} s after it was enabled (status ${described.TableStatus})`);
    }
    await sleep(delayMs);
  }
}

export interface PutItemsOptions {
  /** BatchWriteItem calls in flight at once; default 4. */
  concurrency?: number;
  /** Rounds without progress on unprocessed items before giving up; default 10. */
  maxStalledRounds?: number;
  /** First backoff after unprocessed items, doubled each stalled round (capped at 5 s); default 50 ms. */
  backoffMs?: number;
}

/** Writes every item of `items` into `table`; resolves to the number written. */
export async function putItems(client: DynamoDBClient, table: string, items: ItemSource, options: PutItemsOptions = {}): Promise<number> {
  const concurrency = options.concurrency ?? 4;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let written = 0;
  const start = (requests: WriteRequest[]) => {
    const write = writeBatch(client, table, requests, options).then(
      () => {
        written += requests.length;
      },
      (error: unknown) => {
        failure ??= error;
      },
    );
    const tracked = write.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  let batch: WriteRequest[] = [];
  for await (const item of items) {
    batch.push({ PutRequest: { Item: item } });
    if (batch.length === 25) {
      start(batch);
      batch = [];
      // Back-pressure: pull no more items while the window is full.
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      if (failure !== undefined) break;
    }
  }
  if (batch.length > 0 && failure === undefined) start(batch);
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  return written;
}

async function writeBatch(client: DynamoDBClient, table: string, requests: WriteRequest[], options: PutItemsOptions): Promise<void> {
  const maxStalled = options.maxStalledRounds ?? 10;
  const firstBackoff = options.backoffMs ?? 50;
  let pending = requests;
  let stalled = 0;
  for (;;) {
    let unprocessed: WriteRequest[];
    try {
      const response = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
      unprocessed = response.UnprocessedItems?.[table] ?? [];
    } catch (error) {
      throw new MigrateError('SOURCE_UNAVAILABLE', `BatchWriteItem into ${table} failed: ${(error as Error).message}`, { cause: error });
    }
    if (unprocessed.length === 0) return;
    // DynamoDB returns what it could not take under load: progress resets the backoff.
    stalled = unprocessed.length < pending.length ? 0 : stalled + 1;
    if (stalled >= maxStalled) {
      throw new MigrateError('SOURCE_UNAVAILABLE', `DynamoDB left ${unprocessed.length} items of ${table} unprocessed ${maxStalled} times in a row`);
    }
    pending = unprocessed;
    await sleep(Math.min(5000, firstBackoff * 2 ** stalled));
  }
}

/** Creates the tables and puts every table's items; resolves to the items written per table. */
export async function loadLegacyTables(
  client: DynamoDBClient,
  tables: readonly { table: string; items: ItemSource }[],
  options: PutItemsOptions & { ifExists?: 'fail' | 'keep'; stream?: StreamView } = {},
): Promise<Record<string, number>> {
  await createLegacyTables(
    client,
    tables.map((t) => t.table),
    options,
  );
  const written: Record<string, number> = {};
  for (const { table, items } of tables) written[table] = await putItems(client, table, items, options);
  return written;
}

/** Loads the scan dumps a `dynamodb` seed wrote (`<dir>/<table>.json`) into tables of the same names. */
export async function loadScanDumpDirectory(
  client: DynamoDBClient,
  dir: string,
  tableNames: TableNames,
  options: PutItemsOptions & { ifExists?: 'fail' | 'keep'; stream?: StreamView } = {},
): Promise<Record<string, number>> {
  return loadLegacyTables(
    client,
    LEGACY_ENTITIES.map((entity) => ({ table: tableNames[entity], items: readScanDump(path.join(dir, `${tableNames[entity]}.json`)) })),
    options,
  );
}

/**
 * The items of a whole-table dump as `aws dynamodb scan` prints it, one at a time (the document
 * may be larger than memory), with base64 binary turned back into bytes.
 */
export async function* readScanDump(file: string): AsyncGenerator<AttributeMap> {
  const stream = createReadStream(file)
    .pipe(StreamJson.parser())
    .pipe(PickFilter.pick({ filter: 'Items' }))
    .pipe(StreamArray.streamArray());
  try {
    for await (const entry of stream as AsyncIterable<{ key: number; value: Record<string, unknown> }>) {
      yield fromDynamoDbJson(entry.value);
    }
  } catch (error) {
    throw new MigrateError('SOURCE_CORRUPT', `${file} is not a DynamoDB scan dump: ${(error as Error).message}`, { cause: error });
  } finally {
    stream.destroy();
  }
}

/** DynamoDB JSON (binary as base64) → attribute values the SDK sends. */
export function fromDynamoDbJson(item: Record<string, unknown>): AttributeMap {
  const out: AttributeMap = {};
  for (const [name, value] of Object.entries(item)) out[name] = decodeAttribute(value as Record<string, unknown>);
  return out;
}

/** Plain Uint8Array, not a Buffer: items compare equal to the generator's. */
function bytesOf(base64: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

function decodeAttribute(value: Record<string, unknown>): AttributeValue {
  if (typeof value.B === 'string') return { B: bytesOf(value.B) };
  if (Array.isArray(value.BS)) return { BS: (value.BS as string[]).map(bytesOf) };
  if (value.M !== undefined) return { M: fromDynamoDbJson(value.M as Record<string, unknown>) };
  if (Array.isArray(value.L)) return { L: (value.L as Record<string, unknown>[]).map(decodeAttribute) };
  return value as unknown as AttributeValue;
}
