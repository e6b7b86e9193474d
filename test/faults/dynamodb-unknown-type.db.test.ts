import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TableNames } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { accountingOf, expectBalanced } from './harness.js';
import { loadSeededTables, localClient, migrateFromDynamoDb } from './dynamodb-faults.js';

type RawResponse = { statusCode: number; headers: Record<string, string>; body: AsyncIterable<Uint8Array> };

/**
 * Fault injection: the first item of the first Scan page of `table` that has one gains an attribute
 * of a type the SDK does not know (`{"Q": "1"}`), as if DynamoDB had added a type since, and the
 * SDK's own deserializer reads it. Returns the item's Id once injected.
 */
function injectUnknownType(client: DynamoDBClient, table: string): () => string | undefined {
  let altered: string | undefined;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const input = (args as { input?: { TableName?: string } }).input;
      if (altered !== undefined || (context as { commandName?: string }).commandName !== 'ScanCommand' || input?.TableName !== table) return result;
      const response = result.response as RawResponse;
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) chunks.push(Buffer.from(chunk));
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Items?: Record<string, unknown>[] };
      const first = body.Items?.[0];
      if (first !== undefined && altered === undefined) {
        first.Odd = { Q: '1' };
        altered = (first.Id as { S: string }).S;
      }
      // The body changed: its length and checksum headers would no longer agree with it.
      const headers = Object.fromEntries(Object.entries(response.headers).filter(([name]) => !/^(content-length|x-amz-crc32)$/i.test(name)));
      return { ...result, response: { statusCode: response.statusCode, headers, body: Readable.from([Buffer.from(JSON.stringify(body))]) } };
    },
    { step: 'deserialize', priority: 'low', name: 'kpiMigrateUnknownAttributeType' },
  );
  return () => altered;
}

describe('DynamoDB: an item with an attribute of a type the reader does not know', () => {
  let tableNames: TableNames;
  let db: TestDatabase;

  beforeAll(async () => {
    ({ tableNames } = await loadSeededTables(inject('dynamoDbEndpoint'), { items: 120, seed: 12 }));
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('is a reject (invalid_value, naming the attribute) keeping the item as JSON, and the run completes', async () => {
    const client = localClient(inject('dynamoDbEndpoint'));
    const injected = injectUnknownType(client, tableNames.KpiMilestone);
    try {
      const run = await migrateFromDynamoDb(db.sql, client, tableNames);
      const id = injected();
      expect(id).toBeDefined();
      expect(run.result.status).toBe('completed');
      const accounting = await accountingOf(db.sql, run.result.runId);
      expectBalanced(accounting);
      const { rows } = await db.sql.query<{ reason: string; attribute: string; message: string; item: string }>(
        `select reason, attribute, message, item::text as item from kpi_migrate.rejects where run_id = $1::bigint and source_entity = 'KpiMilestone' and source_id = $2`,
        [run.result.runId, id],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ reason: 'invalid_value', attribute: 'Odd' });
      expect(rows[0]!.message).toMatch(new RegExp(`^Odd: an item of ${tableNames.KpiMilestone} \\(segment-\\d+-of-4\\) is not an item this reader knows: not a DynamoDB attribute value: \\[("Q"|"\\$unknown")\\] \\[invalid_value\\]$`));
      const kept = JSON.parse(rows[0]!.item) as { Id: string; item: string };
      expect(kept.Id).toBe(id);
      const item = JSON.parse(kept.item) as Record<string, unknown>;
      // As the SDK hands it over: the tag as sent (this SDK), or under `$unknown` (SDKs that wrap it).
      expect([JSON.stringify({ Q: '1' }), JSON.stringify({ $unknown: ['Q', '1'] })]).toContain(JSON.stringify(item.Odd));
      expect(item.Id).toEqual({ S: id });
      expect(await db.sql.query('select 1 from public.kpi_data where source_id = $1', [id]).then((r) => r.rows)).toEqual([]);
    } finally {
      client.destroy();
    }
  });
});
