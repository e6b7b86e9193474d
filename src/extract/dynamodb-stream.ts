import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import type { AwsCredentialIdentity } from '@smithy/types';
import { setTimeout as sleep } from 'node:timers/promises';
import { MigrateError } from '../errors.js';
import type { ChangePage, ChangePositions, ChangeSource, SourceChange } from '../model/change.js';
import { LEGACY_ENTITIES, type LegacyEntity, type TableNames } from '../model/entities.js';
import type { ResumeState } from '../model/source.js';
import { awsLoggerFor, type AwsLoggerSink } from './aws-logger.js';
import { fromAttributeMap } from './dynamodb-json.js';
import { DEFAULT_RETRY_POLICY, retrying, type RetryPolicy } from './retry.js';

/** A shard as DescribeStream lists it. */
export interface StreamShard {
  shardId: string;
  parentShardId: string | null;
  startingSequenceNumber: string;
  /** Set once the shard is closed (it takes no more records). */
  endingSequenceNumber: string | null;
}

/** A table's stream where a full run found it, before its first read. */
export interface TableStream {
  entity: LegacyEntity;
  /** Null: the table has no stream enabled. */
  streamArn: string | null;
  viewType: string | null;
  shards: StreamShard[];
}

export interface DynamoDbStreamOptions {
  region?: string;
  endpoint?: string;
  credentials?: AwsCredentialIdentity;
  tableNames: TableNames;
  logger?: AwsLoggerSink;
  retry?: Partial<RetryPolicy>;
  /** A client the caller owns (fault injection in tests); otherwise one is made and closed here. */
  streamsClient?: DynamoDBStreamsClient;
}

/** How to turn a table's stream on, for the messages that ask for one. */
export const ENABLE_STREAM_HINT = 'aws dynamodb update-table --table-name TABLE --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES';

/** Stream records are kept 24 hours (DynamoDB Streams): a position older than that is gone. */
const STREAM_RETENTION_HOURS = 24;
const GET_RECORDS_LIMIT = 1000;
/** Empty reads in a row after which an open shard counts as drained to the present. */
const EMPTY_READS_DRAINED = 3;
const USABLE_VIEWS = new Set(['NEW_AND_OLD_IMAGES', 'NEW_IMAGE']);

function clientConfig(options: DynamoDbStreamOptions) {
  return {
    region: options.region ?? 'us-east-1',
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    logger: awsLoggerFor(options.logger),
    // Retries are ours (retry.ts): throttling is never given up on.
    maxAttempts: 1,
  };
}

function shardOf(shard: Shard): StreamShard {
  return {
    shardId: shard.ShardId!,
    parentShardId: shard.ParentShardId ?? null,
    startingSequenceNumber: shard.SequenceNumberRange?.StartingSequenceNumber ?? '0',
    endingSequenceNumber: shard.SequenceNumberRange?.EndingSequenceNumber ?? null,
  };
}

async function listShards(client: DynamoDBStreamsClient, streamArn: string, policy: RetryPolicy): Promise<StreamShard[]> {
  const shards: StreamShard[] = [];
  let after: string | undefined;
  do {
    const output = await retrying(() => client.send(new DescribeStreamCommand({ StreamArn: streamArn, ...(after === undefined ? {} : { ExclusiveStartShardId: after }) })), policy, { throttles: 0, retries: 0 });
    for (const shard of output.StreamDescription?.Shards ?? []) shards.push(shardOf(shard));
    after = output.StreamDescription?.LastEvaluatedShardId;
  } while (after !== undefined);
  return shards;
}

/**
 * Each table's stream ARN, view and shards as they stand now: what a full run records before its
 * first Scan page, so that a sync reads every change made from then on.
 */
export async function describeTableStreams(options: DynamoDbStreamOptions): Promise<TableStream[]> {
  const policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const tables = new DynamoDBClient(clientConfig(options));
  const streams = options.streamsClient ?? new DynamoDBStreamsClient(clientConfig(options));
  try {
    // The six tables at once: a run records them before it reads anything, so it waits for the slowest, not the sum.
    return await Promise.all(
      LEGACY_ENTITIES.map(async (entity): Promise<TableStream> => {
        const table = options.tableNames[entity];
        const described = await retrying(() => tables.send(new DescribeTableCommand({ TableName: table })), policy, { throttles: 0, retries: 0 }).catch((error: unknown) => {
          throw new MigrateError('SOURCE_UNAVAILABLE', `DescribeTable of ${table} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        });
        const spec = described.Table?.StreamSpecification;
        const streamArn = spec?.StreamEnabled ? (described.Table?.LatestStreamArn ?? null) : null;
        return { entity, streamArn, viewType: streamArn === null ? null : (spec?.StreamViewType ?? null), shards: streamArn === null ? [] : await listShards(streams, streamArn, policy) };
      }),
    );
  } finally {
    tables.destroy();
    if (options.streamsClient === undefined) streams.destroy();
  }
}

/** Where a shard stands: the last sequence number applied (null: none yet); `done` once a closed shard is read to its end. */
interface ShardPosition {
  sequenceNumber: string | null;
}

export interface StreamChangeOptions extends DynamoDbStreamOptions {
  /** The streams the full run recorded (each table's, or none). */
  recorded: readonly TableStream[];
  /** When the full run recorded them (for the gap a trimmed position reports). */
  recordedAt: Date;
  /** Keep polling open shards once drained (`--follow`); otherwise end when every shard is drained. */
  follow: boolean;
  /** Between polls of drained open shards; default 1000 ms. */
  pollMs?: number;
}

/**
 * The changes of the six tables' DynamoDB Streams since a full run: shard lineage in order (a
 * parent read to its end before its children), closed shards to their end, open ones until they
 * have nothing more (and, following, polled again). A position the stream no longer holds (24
 * hours) is refused, never skipped.
 */
export function createStreamChangeSource(options: StreamChangeOptions): ChangeSource {
  const policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const client = options.streamsClient ?? new DynamoDBStreamsClient(clientConfig(options));
  const counters = { throttles: 0, retries: 0 };
  const send = <Output extends object>(call: () => Promise<Output>, signal?: AbortSignal): Promise<Output> => retrying(call, policy, counters, signal);

  const refuseTrimmed = (entity: LegacyEntity, since: Date | null, why: string): never => {
    const from = since ?? options.recordedAt;
    const hours = (Date.now() - from.getTime()) / 3_600_000;
    const gap = Math.max(0, hours - STREAM_RETENTION_HOURS);
    throw new MigrateError(
      'SYNC_REFUSED',
      `the stream of ${options.tableNames[entity]} no longer holds the changes this sync needs (${why}): the last position was taken ` +
        `${hours.toFixed(1)} h ago (${from.toISOString()}) and stream records live ${STREAM_RETENTION_HOURS} h, so about ${gap.toFixed(1)} h of changes ` +
        'may be lost. Nothing was written. A new full run is needed (kpi-migrate run --converge, with the streams enabled), then sync that run.',
    );
  };

  async function* tableChanges(stream: TableStream, from: ResumeState, signal: AbortSignal): AsyncGenerator<ChangePage> {
    const entity = stream.entity;
    const arn = stream.streamArn!;
    const listed = await listShards(client, arn, policy);
    const byId = new Map(listed.map((shard) => [shard.shardId, shard]));
    for (const shard of stream.shards) {
      if (!byId.has(shard.shardId) && from[shard.shardId]?.done !== true) refuseTrimmed(entity, null, `shard ${shard.shardId}, recorded by the run, is no longer listed`);
    }
    const done = new Set(Object.entries(from).filter(([, state]) => state.done).map(([id]) => id));
    // Lineage order: a shard is read once its parent is done or is not listed any more (trimmed
    // before the run, whose records the run read in the table itself).
    const ready = (shard: StreamShard): boolean => !done.has(shard.shardId) && (shard.parentShardId === null || done.has(shard.parentShardId) || !byId.has(shard.parentShardId));
    for (;;) {
      const next = listed.filter(ready);
      if (next.length === 0) return;
      for (const shard of next) {
        yield* shardChanges(entity, arn, shard, (from[shard.shardId]?.position as ShardPosition | null | undefined) ?? null, signal);
        done.add(shard.shardId);
        if (signal.aborted) return;
      }
    }
  }

  /**
   * Where the last read of each open shard stopped, drained: the next round goes on from there
   * rather than from its position. AWS may answer empty pages before a shard's later records
   * (GetRecords: "it might take multiple calls to get to a portion of the shard that contains
   * stream records"); a fresh iterator from the position would meet the same empty pages again.
   */
  const drainedAt = new Map<string, string>();

  /** One shard from its position: to its end when closed; while open, until EMPTY_READS_DRAINED reads in a row find nothing. */
  async function* shardChanges(entity: LegacyEntity, arn: string, shard: StreamShard, position: ShardPosition | null, signal: AbortSignal): AsyncGenerator<ChangePage> {
    let last = position?.sequenceNumber ?? null;
    const iterator = async (): Promise<string | undefined> => {
      // A shard never read starts at TRIM_HORIZON (DynamoDB Local numbers a shard's range from
      // before its first record, and refuses AT_SEQUENCE_NUMBER there as trimmed). What it may
      // have lost is told by the time: records live 24 hours from when the run recorded the shard.
      if (last === null && Date.now() - options.recordedAt.getTime() > STREAM_RETENTION_HOURS * 3_600_000) {
        refuseTrimmed(entity, null, `shard ${shard.shardId} was never read, and the run recorded it more than ${STREAM_RETENTION_HOURS} h ago`);
      }
      const type: ShardIteratorType = last === null ? 'TRIM_HORIZON' : 'AFTER_SEQUENCE_NUMBER';
      try {
        const output = await send(
          () => client.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard.shardId, ShardIteratorType: type, ...(last === null ? {} : { SequenceNumber: last }) })),
          signal,
        );
        return output.ShardIterator;
      } catch (error) {
        return failure(error);
      }
    };
    const failure = (error: unknown): never => {
      const name = (error as { name?: string }).name;
      if (name === 'TrimmedDataAccessException') refuseTrimmed(entity, null, `TrimmedDataAccessException on shard ${shard.shardId}`);
      if (name === 'ResourceNotFoundException') refuseTrimmed(entity, null, `shard ${shard.shardId} does not exist any more`);
      throw new MigrateError('SOURCE_UNAVAILABLE', `reading the stream of ${options.tableNames[entity]} failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, { cause: error });
    };
    const key = `${arn}\u0000${shard.shardId}`;
    let shardIterator = drainedAt.get(key) ?? (await iterator());
    drainedAt.delete(key);
    let emptyReads = 0;
    while (shardIterator !== undefined && !signal.aborted) {
      let records: StreamRecord[];
      let nextIterator: string | undefined;
      try {
        const current = shardIterator;
        const output = await send(() => client.send(new GetRecordsCommand({ ShardIterator: current, Limit: GET_RECORDS_LIMIT })), signal);
        records = output.Records ?? [];
        nextIterator = output.NextShardIterator;
      } catch (error) {
        // An iterator lives 15 minutes: a new one from the last position loses nothing.
        if ((error as { name?: string }).name === 'ExpiredIteratorException') {
          shardIterator = await iterator();
          continue;
        }
        return failure(error);
      }
      const changes = records.map((record) => changeOf(entity, record));
      if (changes.length > 0) last = changes[changes.length - 1]!.writeOrder;
      const newest = records[records.length - 1]?.dynamodb?.ApproximateCreationDateTime;
      const closed = nextIterator === undefined;
      emptyReads = changes.length === 0 ? emptyReads + 1 : 0;
      // An open shard's empty read is not yet the present (see drainedAt): read on, a few times.
      if (!closed && changes.length === 0 && emptyReads < EMPTY_READS_DRAINED) {
        shardIterator = nextIterator;
        continue;
      }
      yield {
        entity,
        partition: shard.shardId,
        changes,
        position: { sequenceNumber: last },
        done: closed,
        // The age of the newest change read (0 once a read finds nothing); Streams does not say how many records remain.
        behind: { seconds: newest === undefined ? 0 : Math.max(0, (Date.now() - newest.getTime()) / 1000), records: null },
      };
      if (closed) return;
      // Drained to the present: the next round polls it again, from here.
      if (changes.length === 0) {
        drainedAt.set(key, nextIterator!);
        return;
      }
      shardIterator = nextIterator;
    }
  }

  return {
    kind: 'stream',
    async *changes(from: ChangePositions, signal: AbortSignal = new AbortController().signal): AsyncGenerator<ChangePage> {
      const streams = followableStreams(options.recorded, options.tableNames);
      const positions = new Map(LEGACY_ENTITIES.map((entity) => [entity, { ...(from[entity] ?? {}) } as ResumeState]));
      for (;;) {
        let changed = 0;
        for (const stream of streams) {
          const state = positions.get(stream.entity)!;
          for await (const page of tableChanges(stream, state, signal)) {
            changed += page.changes.length;
            state[page.partition] = { position: page.position, done: page.done };
            yield page;
          }
          if (signal.aborted) return;
        }
        // Drained when a whole round over every shard found nothing (a shard closed mid-round has its children read in the next).
        if (changed === 0 && !options.follow) return;
        if (changed === 0) await sleep(options.pollMs ?? 1000, undefined, { signal }).catch(() => {});
        if (signal.aborted) return;
      }
    },
    async close() {
      if (options.streamsClient === undefined) client.destroy();
    },
  };
}

/**
 * The six tables' streams as the run recorded them, each one a sync can follow; otherwise
 * SYNC_REFUSED saying how to get one (checked before anything is read or written).
 */
export function followableStreams(recorded: readonly TableStream[], tableNames: TableNames): TableStream[] {
  return LEGACY_ENTITIES.map((entity) => {
    const stream = recorded.find((candidate) => candidate.entity === entity);
    if (stream === undefined || stream.streamArn === null) {
      throw new MigrateError(
        'SYNC_REFUSED',
        `table ${tableNames[entity]} had no stream when the run read it, so its changes since cannot be followed. Enable one ` +
          `(${ENABLE_STREAM_HINT.replace('TABLE', tableNames[entity])}), then start a new full run and sync that run.`,
      );
    }
    if (!USABLE_VIEWS.has(stream.viewType ?? '')) {
      throw new MigrateError('SYNC_REFUSED', `the stream of ${tableNames[entity]} shows ${stream.viewType} only; a sync needs the new image of each change (NEW_AND_OLD_IMAGES or NEW_IMAGE)`);
    }
    return stream;
  });
}

function changeOf(entity: LegacyEntity, record: StreamRecord): SourceChange {
  const data = record.dynamodb;
  const id = data?.Keys?.Id?.S;
  const sequence = data?.SequenceNumber;
  if (id === undefined || sequence === undefined || !/^\d+$/.test(sequence)) {
    throw new MigrateError('SOURCE_CORRUPT', `a stream record of ${entity} has no string Id key or no sequence number (${record.eventID ?? 'no event id'})`);
  }
  const removed = record.eventName === 'REMOVE';
  if (!removed && data?.NewImage === undefined) {
    throw new MigrateError('SOURCE_CORRUPT', `a ${record.eventName} stream record of ${entity} ${id} carries no new image: the stream must show NEW_AND_OLD_IMAGES or NEW_IMAGE`);
  }
  return {
    entity,
    sourceId: id,
    newImage: removed ? null : fromAttributeMap(data!.NewImage as never),
    writeOrder: sequence,
    writeOrderKind: 'stream-sequence',
  };
}
