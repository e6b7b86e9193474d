import {
  BatchGetItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ScanCommand,
  type ScanCommandInput,
  type AttributeValue,
  type ConsumedCapacity,
} from '@aws-sdk/client-dynamodb';
import type { AwsCredentialIdentity } from '@smithy/types';
import { setTimeout as sleep } from 'node:timers/promises';
import { MigrateError } from '../errors.js';
import type { LegacyEntity, TableNames } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import { fromAttributeMap, fromAttributeValue } from './dynamodb-json.js';
import { unreadableRecord } from '../model/unreadable.js';
import { awsLoggerFor, type AwsLoggerSink } from './aws-logger.js';
import { mergeConcurrently, type Producer } from './merge-pages.js';
import { ReadCapacityLimiter } from './read-capacity.js';
import { segmentPartition } from './segments.js';
import { backoffMs, DEFAULT_RETRY_POLICY, retrying, type RetryPolicy } from './retry.js';
import { sendPlainScan, type PlainScanOutput, type ScannedItems } from './plain-scan.js';
import type { TypedItem } from '../model/dynamodb-json.js';
import type { LegacySource, NextRead, Position, ResumeState, SourcePage, TypedSourcePage } from '../model/source.js';

export interface DynamoDbSourceOptions {
  /** A client the caller owns and closes; without it one is made from region/endpoint/credentials. */
  client?: DynamoDBClient;
  region?: string;
  endpoint?: string;
  credentials?: AwsCredentialIdentity;
  tableNames: TableNames;
  /** Parallel Scan segments; by default one per 2 GB of table (AWS's advice). Required with `worker`. */
  segments?: number;
  /** This process reads segments i with i % count === index - 1 (index is 1-based); a worker left without a segment reads nothing. */
  worker?: { index: number; count: number };
  /** Scan `Limit`: DynamoDB Local is pathologically slow without one. */
  pageLimit?: number;
  /** Read capacity units per second for this process, across its segments. */
  maxReadUnits?: number;
  /** Segments scanned at once (default: all of this worker's, at most 16). */
  concurrency?: number;
  logger?: AwsLoggerSink;
  retry?: Partial<RetryPolicy>;
}

export interface DynamoDbSourceStats {
  pages: number;
  items: number;
  throttles: number;
  retries: number;
  consumedReadUnits: number;
  /** Time spent waiting for the `maxReadUnits` budget, summed over segments. */
  rateLimitedMs: number;
}

export interface DynamoDbSource extends LegacySource {
  readonly kind: 'dynamodb';
  stats(): DynamoDbSourceStats;
}

export const DEFAULT_PAGE_LIMIT = 1000;
const BYTES_PER_SEGMENT = 2 * 1024 ** 3;
const MAX_AUTO_SEGMENTS = 1000;
const MAX_CONCURRENT_SEGMENTS = 16;
const BATCH_GET_LIMIT = 100;

const SEGMENT_PARTITION = /^segment-(\d+)-of-(\d+)$/;

/** A LastEvaluatedKey as JSON: key attributes are S, N or B, and B travels as base64. */
export function keyToPosition(key: Record<string, AttributeValue>): Position {
  const json: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(key)) {
    if (value.B !== undefined) json[name] = { B: Buffer.from(value.B).toString('base64') };
    else if (value.S !== undefined) json[name] = { S: value.S };
    else if (value.N !== undefined) json[name] = { N: value.N };
    else throw new MigrateError('INTERNAL', `LastEvaluatedKey attribute ${name} is not S, N or B`);
  }
  return { lastEvaluatedKey: json };
}

export function positionToKey(position: Position, partition: string): Record<string, AttributeValue> {
  const raw = position.lastEvaluatedKey;
  const invalid = () =>
    new MigrateError('RUN_STATE', `resume position of ${partition} is not a DynamoDB key: ${JSON.stringify(position)}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid();
  const key: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const v = value as Record<string, unknown> | null;
    if (typeof v?.S === 'string') key[name] = { S: v.S };
    else if (typeof v?.N === 'string') key[name] = { N: v.N };
    else if (typeof v?.B === 'string') key[name] = { B: new Uint8Array(Buffer.from(v.B, 'base64')) };
    else throw invalid();
  }
  return key;
}

function capacityUnits(consumed: ConsumedCapacity | ConsumedCapacity[] | undefined): number {
  if (consumed === undefined) return 0;
  const list = Array.isArray(consumed) ? consumed : [consumed];
  return list.reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
}

function checkWorker(worker: { index: number; count: number } | undefined): void {
  if (worker === undefined) return;
  const { index, count } = worker;
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 1 || index > count) {
    throw new MigrateError('CONFIG_INVALID', `worker must be K/N with 1 <= K <= N, got ${index}/${count}`);
  }
}

/** The page limit, once every option is known to be usable. */
function checkOptions(options: DynamoDbSourceOptions): number {
  checkWorker(options.worker);
  if (options.worker !== undefined && options.segments === undefined) {
    // Workers sizing the table on their own could see different sizes and split it differently.
    throw new MigrateError('CONFIG_INVALID', 'a worker (K/N) needs an explicit segment count, the same for all N workers');
  }
  if (options.segments !== undefined && (!Number.isInteger(options.segments) || options.segments < 1 || options.segments > 1_000_000)) {
    throw new MigrateError('CONFIG_INVALID', `segments must be an integer from 1 to 1000000, got ${options.segments}`);
  }
  const pageLimit = options.pageLimit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(pageLimit) || pageLimit < 1) {
    throw new MigrateError('CONFIG_INVALID', `pageLimit must be a positive integer, got ${pageLimit}`);
  }
  if (options.maxReadUnits !== undefined && !(options.maxReadUnits > 0)) {
    throw new MigrateError('CONFIG_INVALID', `maxReadUnits must be positive, got ${options.maxReadUnits}`);
  }
  return pageLimit;
}

function newClient(options: DynamoDbSourceOptions): DynamoDBClient {
  return new DynamoDBClient({
    region: options.region ?? 'us-east-1',
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    logger: awsLoggerFor(options.logger),
    // Retries are ours, so every throttle is counted and none gives up after the SDK's 3 attempts.
    maxAttempts: 1,
  });
}

function throttleWarning(logger: AwsLoggerSink | undefined): (throttles: number) => void {
  return (throttles) => {
    // 1, 10, 100, 1000, then every 1000th: visible without flooding the log.
    if (throttles % 1000 === 0 || [1, 10, 100].includes(throttles)) {
      logger?.warn(`DynamoDB is throttling the scan: ${throttles} throttled requests so far, backing off and retrying`);
    }
  };
}

function unavailable(error: unknown, table: string, what: string): MigrateError {
  if (error instanceof MigrateError) return error;
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new MigrateError('SOURCE_UNAVAILABLE', `DynamoDB ${what} of table ${table} failed: ${message}`, {
    cause: error,
    details: { table, what },
  });
}

type Counters = Omit<DynamoDbSourceStats, 'rateLimitedMs'>;

/** One request under the capacity budget and the retry policy; the estimate is what the caller expects to spend. */
type Send = <Output extends object>(
  request: (signal?: AbortSignal) => Promise<Output>,
  estimate: number,
  signal?: AbortSignal,
) => Promise<{ output: Output; units: number }>;

function budgetedSend(limiter: ReadCapacityLimiter | undefined, policy: RetryPolicy, counters: Counters, onThrottle: (throttles: number) => void): Send {
  return async function send<Output extends object>(request: (signal?: AbortSignal) => Promise<Output>, estimate: number, signal?: AbortSignal) {
    return retrying(
      async () => {
        await limiter?.reserve(estimate, signal);
        let units = 0;
        try {
          const output = await request(signal);
          units = capacityUnits((output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] }).ConsumedCapacity);
          counters.consumedReadUnits += units;
          return { output, units };
        } finally {
          limiter?.settle(estimate, units);
        }
      },
      policy,
      counters,
      signal,
      onThrottle,
    );
  };
}

/** What every request of one source shares. */
interface Reader {
  client: DynamoDBClient;
  send: Send;
  pageLimit: number;
  policy: RetryPolicy;
  counters: Counters;
  /** Tables' first answers asked for ahead of their reading (NextRead), by entity. */
  ahead: Map<LegacyEntity, FirstAnswers>;
}

type ScanAnswer = { output: PlainScanOutput; units: number };

/** A table's first answers, asked for before it is read: one per segment the reading starts with. */
interface FirstAnswers {
  /** The resume state they were asked from (resumeKey): a reading from another takes none of them. */
  from: string;
  /** Undefined when they could not be asked for: the reading finds out why itself. */
  asked: Promise<{ total: number; answers: Map<number, Promise<ScanAnswer>> } | undefined>;
  abort: AbortController;
}

/** A resume state as text that does not depend on the order of its partitions. */
function resumeKey(from: ResumeState | undefined): string {
  return JSON.stringify(Object.entries(from ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function autoSegments(reader: Reader, table: string): Promise<number> {
  try {
    const { output } = await reader.send((signal) => reader.client.send(new DescribeTableCommand({ TableName: table }), { abortSignal: signal }), 0);
    const bytes = output.Table?.TableSizeBytes ?? 0;
    return Math.min(MAX_AUTO_SEGMENTS, Math.max(1, Math.ceil(bytes / BYTES_PER_SEGMENT)));
  } catch (error) {
    throw unavailable(error, table, 'DescribeTable');
  }
}

/** A resumed table keeps the segment count it was started with, or positions would mean other ranges. */
async function segmentCount(reader: Reader, table: string, from: ResumeState | undefined, segments: number | undefined): Promise<number> {
  const resumed = new Set<number>();
  for (const partition of Object.keys(from ?? {})) {
    const match = SEGMENT_PARTITION.exec(partition);
    if (!match) throw new MigrateError('RUN_STATE', `resume state of ${table} has a partition that is not a scan segment: ${partition}`);
    resumed.add(Number(match[2]));
  }
  if (resumed.size > 1) throw new MigrateError('RUN_STATE', `resume state of ${table} mixes segment counts: ${[...resumed].join(', ')}`);
  const [fromState] = resumed;
  if (fromState !== undefined) {
    if (segments !== undefined && segments !== fromState) {
      throw new MigrateError(
        'CONFIG_INVALID',
        `table ${table} was being scanned in ${fromState} segments; resume with --segments ${fromState} (asked: ${segments})`,
      );
    }
    return fromState;
  }
  return segments ?? (await autoSegments(reader, table));
}

function workerSegments(total: number, worker: DynamoDbSourceOptions['worker']): number[] {
  const all = Array.from({ length: total }, (_, i) => i);
  return worker === undefined ? all : all.filter((i) => i % worker.count === worker.index - 1);
}

/** A page of scanned items, as SourcePage or TypedSourcePage. */
type PageOf<Page> = (raw: ScannedItems, where: string, page: Omit<SourcePage, 'items'>) => Page;

const itemsPage: PageOf<SourcePage> = (raw, where, page) => ({ ...page, items: Array.from({ length: raw.count }, (_, index) => scannedItem(raw, index, where)) });

/** The items as the Scan's answer held them, each parsed when asked for: the fast path reads them, `item` builds the few others. */
const typedPage: PageOf<TypedSourcePage> = (raw, where, page) => ({
  ...page,
  count: raw.count,
  typed: (index) => raw.parse(index),
  flat: (index, into) => raw.flat(index, into),
  item: (index) => scannedItem(raw, index, where),
});

/** An item of a Scan's answer as a legacy item; one whose text is not JSON is a reject keeping the text. */
function scannedItem(raw: ScannedItems, index: number, where: string): LegacyItem {
  const typed = raw.parse(index);
  if (typed !== undefined) return itemOf(typed, where);
  return unreadableRecord({ item: raw.text(index) }, { attribute: 'Item', message: `${where} is not an item this reader knows: its text is not JSON` });
}

/** Lets pending I/O callbacks and timers run once, so a request just started is on the wire before the caller computes. */
const turnOfTheLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** One page of a segment's Scan, under the capacity budget and the retry policy; never an unhandled rejection. */
function scanPage(
  reader: Reader,
  table: string,
  segment: number,
  total: number,
  startKey: Record<string, AttributeValue> | undefined,
  estimate: number,
  signal: AbortSignal,
): Promise<ScanAnswer> {
  const { client, send, pageLimit } = reader;
  const answer = send((s) => sendPlainScan(client, scanRequest(table, pageLimit, segment, total, startKey), s), estimate, signal);
  // Awaited by the segment's reading, or abandoned when it stops: either way no unhandled rejection.
  answer.catch(() => {});
  return answer;
}

/**
 * One segment's pages in order. The next page is asked for as soon as this one has come, before
 * it is handed over: DynamoDB reads it while the consumer maps this one, as a bare Scan loop
 * keeps it busy. So a segment holds at most one page beyond what the merge holds, and its
 * request is aborted (with the merge's signal) when the consumer stops early. `first` is the
 * first answer when it was asked for ahead; `lastAsked` is called once the last answer has come.
 */
function scanSegment<Page>(
  reader: Reader,
  entity: LegacyEntity,
  table: string,
  segment: number,
  total: number,
  startKey: Record<string, AttributeValue> | undefined,
  pageOf: PageOf<Page>,
  first: { answer: Promise<ScanAnswer>; abort: AbortController } | undefined,
  lastAsked: () => void,
): Producer<Page> {
  const { counters } = reader;
  const partition = segmentPartition(segment, total);
  const where = `an item of ${table} (${partition})`;
  return async function* (signal) {
    // An answer asked for ahead was asked with a signal of its own: the consumer stopping aborts it too.
    if (first !== undefined) signal.addEventListener('abort', () => first.abort.abort(), { once: true });
    let next = first?.answer ?? scanPage(reader, table, segment, total, startKey, 1, signal);
    for (;;) {
      let page;
      try {
        page = await next;
      } catch (error) {
        if (signal.aborted) throw error;
        const failure = unavailable(error, table, `Scan of ${partition}`);
        failure.details.segment = segment;
        throw failure;
      }
      const raw = page.output.Items;
      const last = page.output.LastEvaluatedKey;
      const done = last === undefined || Object.keys(last).length === 0;
      if (!done) {
        next = scanPage(reader, table, segment, total, last, Math.max(1, page.units), signal);
        await turnOfTheLoop();
      } else lastAsked();
      counters.pages += 1;
      counters.items += raw.count;
      yield pageOf(raw, where, { entity, partition, position: done ? null : keyToPosition(last), done });
      if (done) return;
    }
  };
}

/** One page's Scan of `segment` of `total` (no segment when there is one), from `startKey`. */
function scanRequest(table: string, pageLimit: number, segment: number, total: number, startKey: Record<string, AttributeValue> | undefined): ScanCommandInput {
  return {
    TableName: table,
    Limit: pageLimit,
    ...(total > 1 ? { Segment: segment, TotalSegments: total } : {}),
    ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
    ReturnConsumedCapacity: 'TOTAL',
  };
}

/** The segments this worker still reads of a table in `total` segments, and where each starts. */
function segmentsToRead(total: number, options: DynamoDbSourceOptions, from: ResumeState | undefined): { segment: number; startKey?: Record<string, AttributeValue> }[] {
  const reads = [];
  for (const segment of workerSegments(total, options.worker)) {
    const partition = segmentPartition(segment, total);
    const state = from?.[partition];
    if (state?.done) continue;
    reads.push({ segment, ...(state?.position ? { startKey: positionToKey(state.position, partition) } : {}) });
  }
  return reads;
}

const concurrencyOf = (options: DynamoDbSourceOptions, segments: number): number => options.concurrency ?? Math.min(MAX_CONCURRENT_SEGMENTS, segments);

/**
 * Asks for the first page of each segment a reading of `next` starts with (as many as it scans
 * at once), under the same budget as every request: the reading of that table from the same state
 * takes them (readTable), close() or a reading from another state aborts them.
 */
function askAhead(reader: Reader, options: DynamoDbSourceOptions, next: NextRead): void {
  if (reader.ahead.has(next.entity)) return;
  const abort = new AbortController();
  const table = options.tableNames[next.entity];
  const asked = (async () => {
    const total = await segmentCount(reader, table, next.from, options.segments);
    const reads = segmentsToRead(total, options, next.from);
    const answers = new Map<number, Promise<ScanAnswer>>();
    for (const { segment, startKey } of reads.slice(0, concurrencyOf(options, reads.length))) {
      answers.set(segment, scanPage(reader, table, segment, total, startKey, 1, abort.signal));
    }
    return { total, answers };
  })().catch(() => undefined);
  reader.ahead.set(next.entity, { from: resumeKey(next.from), asked, abort });
}

/** The first answers asked for ahead of this reading, if they were asked from the same state. */
async function takeAhead(reader: Reader, entity: LegacyEntity, from: ResumeState | undefined): Promise<(FirstAnswers & { taken: Awaited<FirstAnswers['asked']> }) | undefined> {
  const ahead = reader.ahead.get(entity);
  if (ahead === undefined) return undefined;
  reader.ahead.delete(entity);
  if (ahead.from !== resumeKey(from)) {
    ahead.abort.abort();
    return undefined;
  }
  return { ...ahead, taken: await ahead.asked };
}

async function* readTable<Page>(
  reader: Reader,
  options: DynamoDbSourceOptions,
  entity: LegacyEntity,
  from: ResumeState | undefined,
  pageOf: PageOf<Page>,
  next: NextRead | undefined,
): AsyncGenerator<Page> {
  const table = options.tableNames[entity];
  const ahead = await takeAhead(reader, entity, from);
  try {
    const total = ahead?.taken?.total ?? (await segmentCount(reader, table, from, options.segments));
    const reads = segmentsToRead(total, options, from);
    // The next table's first pages are asked for once this one has nothing more to ask for: the
    // reader maps this table's last pages meanwhile, and finds the next one's waiting.
    let unfinished = reads.length;
    const lastAsked = (): void => {
      unfinished -= 1;
      if (unfinished === 0 && next !== undefined) askAhead(reader, options, next);
    };
    if (unfinished === 0 && next !== undefined) askAhead(reader, options, next);
    const producers = reads.map(({ segment, startKey }) => {
      const answer = ahead?.taken?.answers.get(segment);
      const first = answer === undefined ? undefined : { answer, abort: ahead!.abort };
      return scanSegment(reader, entity, table, segment, total, startKey, pageOf, first, lastAsked);
    });
    yield* mergeConcurrently(producers, concurrencyOf(options, producers.length));
  } finally {
    // A first answer this reading did not await (it stopped early) is not waited for either.
    ahead?.abort.abort();
  }
}

function countSegment(reader: Reader, table: string, segment: number, total: number): Producer<number> {
  const { client, send, pageLimit } = reader;
  return async function* (signal) {
    let exclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      let page;
      try {
        page = await send(
          (s) =>
            client.send(
              new ScanCommand({ ...scanRequest(table, pageLimit, segment, total, exclusiveStartKey), Select: 'COUNT' }),
              { abortSignal: s },
            ),
          1,
          signal,
        );
      } catch (error) {
        if (signal.aborted) throw error;
        throw unavailable(error, table, `count (Scan COUNT) of ${segmentPartition(segment, total)}`);
      }
      yield page.output.Count ?? 0;
      const last = page.output.LastEvaluatedKey;
      exclusiveStartKey = last !== undefined && Object.keys(last).length > 0 ? last : undefined;
    } while (exclusiveStartKey !== undefined);
  };
}

async function countItems(reader: Reader, table: string, segments: number | undefined): Promise<number> {
  // The whole table, whatever this worker reads: a recount must not share the scan's assumptions.
  const total = segments ?? (await autoSegments(reader, table));
  const producers = Array.from({ length: total }, (_, segment) => countSegment(reader, table, segment, total));
  let count = 0;
  for await (const n of mergeConcurrently(producers, Math.min(MAX_CONCURRENT_SEGMENTS, total))) count += n;
  return count;
}

async function getItems(reader: Reader, table: string, ids: readonly string[]): Promise<LegacyItem[]> {
  const { client, send, policy, counters } = reader;
  const wanted = [...new Set(ids)];
  const found = new Map<string, LegacyItem>();
  for (let start = 0; start < wanted.length; start += BATCH_GET_LIMIT) {
    let keys: Record<string, AttributeValue>[] = wanted.slice(start, start + BATCH_GET_LIMIT).map((id) => ({ Id: { S: id } }));
    let unprocessedRounds = 0;
    while (keys.length > 0) {
      let page;
      try {
        const request = { RequestItems: { [table]: { Keys: keys } }, ReturnConsumedCapacity: 'TOTAL' as const };
        page = await send((s) => client.send(new BatchGetItemCommand(request), { abortSignal: s }), keys.length / 2);
      } catch (error) {
        throw unavailable(error, table, 'BatchGetItem');
      }
      for (const raw of page.output.Responses?.[table] ?? []) {
        const item = itemOf(raw, `an item of ${table}`);
        if (typeof item.Id === 'string') found.set(item.Id, item);
      }
      keys = page.output.UnprocessedKeys?.[table]?.Keys ?? [];
      if (keys.length > 0) {
        // Unprocessed keys are DynamoDB's polite throttle: back off and ask again for the rest.
        counters.retries += 1;
        await sleep(backoffMs(unprocessedRounds++, policy));
      }
    }
  }
  return wanted.flatMap((id) => {
    const item = found.get(id);
    return item === undefined ? [] : [item];
  });
}

/** A read-only parallel Scan of the legacy tables; see DynamoDbSourceOptions for the knobs. */
export function createDynamoDbSource(options: DynamoDbSourceOptions): DynamoDbSource {
  const pageLimit = checkOptions(options);
  const ownsClient = options.client === undefined;
  const client = options.client ?? newClient(options);
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const limiter = options.maxReadUnits === undefined ? undefined : new ReadCapacityLimiter(options.maxReadUnits);
  const counters: Counters = { pages: 0, items: 0, throttles: 0, retries: 0, consumedReadUnits: 0 };
  const send = budgetedSend(limiter, policy, counters, throttleWarning(options.logger));
  const reader: Reader = { client, send, pageLimit, policy, counters, ahead: new Map() };

  return {
    kind: 'dynamodb',
    readTable: (entity, from, next) => readTable(reader, options, entity, from, itemsPage, next),
    readTypedTable: (entity, from, next) => readTable(reader, options, entity, from, typedPage, next),
    countItems: (entity) => countItems(reader, options.tableNames[entity], options.segments),
    getItems: (entity, ids) => getItems(reader, options.tableNames[entity], ids),
    stats: () => ({ ...counters, rateLimitedMs: limiter?.waitedMs ?? 0 }),
    async close() {
      for (const ahead of reader.ahead.values()) ahead.abort.abort();
      reader.ahead.clear();
      if (ownsClient) client.destroy();
    },
  };
}

/**
 * An item with an attribute this reader cannot take (a type DynamoDB added since, as the Scan's
 * answer held it, or as the SDK's `$unknown` for BatchGetItem) is a reject, not the end of the run: an unreadable item keeping the
 * item as JSON text (binary as base64), `{"Id": <Id.S, when it has one>, "item": "<JSON>"}`.
 */
function itemOf(raw: TypedItem | Record<string, AttributeValue>, where: string): LegacyItem {
  try {
    // Each value is checked for what it is: a value that is not an attribute map is a reject like any other.
    return fromAttributeMap(raw as Record<string, object>);
  } catch (error) {
    let problem = { attribute: 'Item', why: error instanceof Error ? error.message : String(error) };
    for (const name of Object.keys(raw)) {
      try {
        fromAttributeValue(raw[name] as object);
      } catch (attributeError) {
        problem = { attribute: name, why: attributeError instanceof Error ? attributeError.message : String(attributeError) };
        break;
      }
    }
    const text = JSON.stringify(raw, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value));
    const id = (raw.Id as { S?: unknown } | undefined)?.S;
    return unreadableRecord(typeof id === 'string' ? { Id: id, item: text } : { item: text }, {
      attribute: problem.attribute,
      message: `${where} is not an item this reader knows: ${problem.why}`,
    });
  }
}
