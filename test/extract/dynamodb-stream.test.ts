// Fault injection for the stream reader: AWS may answer empty GetRecords pages before an open
// shard's later records ("it might take multiple calls to get to a portion of the shard that
// contains stream records"). DynamoDB Local never does, so a scripted client stands in for it.
import { describe, expect, it } from 'vitest';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { createStreamChangeSource, type TableStream } from '../../src/extract/dynamodb-stream.js';
import type { ChangePage } from '../../src/model/change.js';
import { LEGACY_ENTITIES, defaultTableNames } from '../../src/model/entities.js';

const arnOf = (entity: string): string => `arn:aws:dynamodb:test:0:table/${entity}/stream/1`;
const SHARD = 'shardId-1';

function record(sequence: number, id: string) {
  return { eventName: 'INSERT', dynamodb: { Keys: { Id: { S: id } }, NewImage: { Id: { S: id } }, SequenceNumber: String(sequence).padStart(21, '0') } };
}

/**
 * One open shard per table; the KpiMilestone shard answers `script` in order (then empty pages),
 * every other shard empty pages. Iterators name the read they lead to, so the test sees which
 * iterator each read used, and how many fresh ones were asked for.
 */
function scriptedClient(script: ReturnType<typeof record>[][]) {
  const calls = { getShardIterator: 0, getRecords: 0 };
  let read = 0;
  const client = {
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      switch (command.constructor.name) {
        case 'DescribeStreamCommand':
          return { StreamDescription: { Shards: [{ ShardId: SHARD, SequenceNumberRange: { StartingSequenceNumber: '0' } }] } };
        case 'GetShardIteratorCommand':
          calls.getShardIterator += 1;
          return { ShardIterator: `${String(command.input.StreamArn)}|fresh` };
        case 'GetRecordsCommand': {
          calls.getRecords += 1;
          const iterator = String(command.input.ShardIterator);
          if (!iterator.startsWith(arnOf('KpiMilestone'))) return { Records: [], NextShardIterator: iterator };
          const page = script[read] ?? [];
          read += 1;
          return { Records: page, NextShardIterator: `${arnOf('KpiMilestone')}|after-${read}` };
        }
        default:
          throw new Error(`unexpected ${command.constructor.name}`);
      }
    },
    destroy() {},
  };
  return { client: client as unknown as DynamoDBStreamsClient, calls };
}

const recorded: TableStream[] = LEGACY_ENTITIES.map((entity) => ({
  entity,
  streamArn: arnOf(entity),
  viewType: 'NEW_AND_OLD_IMAGES',
  shards: [{ shardId: SHARD, parentShardId: null, startingSequenceNumber: '0', endingSequenceNumber: null }],
}));

async function drain(pages: AsyncIterable<ChangePage>): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of pages) for (const change of page.changes) ids.push(change.sourceId);
  return ids;
}

describe('the stream reader on an open shard that answers empty pages before its records', () => {
  it('reads on past empty pages rather than taking the first one as drained', async () => {
    const { client } = scriptedClient([[], [], [record(1, 'a'), record(2, 'b')], [record(3, 'c')]]);
    const source = createStreamChangeSource({ tableNames: defaultTableNames(), recorded, recordedAt: new Date(), follow: false, streamsClient: client });
    expect(await drain(source.changes({}))).toEqual(['a', 'b', 'c']);
  });

  it('a drained shard is read on from where its last read stopped, not from a fresh iterator that meets the same empty pages', async () => {
    // Three empty reads end the first round; the records come after them.
    const { client, calls } = scriptedClient([[record(1, 'a')], [], [], [], [record(2, 'b')]]);
    const source = createStreamChangeSource({ tableNames: defaultTableNames(), recorded, recordedAt: new Date(), follow: true, pollMs: 1, streamsClient: client });
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const page of source.changes({}, controller.signal)) {
      for (const change of page.changes) seen.push(change.sourceId);
      if (seen.length === 2) controller.abort();
    }
    expect(seen).toEqual(['a', 'b']);
    // One fresh iterator per table, at the start; every later read went on from the last one.
    expect(calls.getShardIterator).toBe(LEGACY_ENTITIES.length);
  });
});
