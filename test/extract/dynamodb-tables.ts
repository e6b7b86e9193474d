import { BatchWriteItemCommand, CreateTableCommand, DeleteTableCommand, DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { quietAwsLogger } from '../../src/extract/aws-logger.js';
import type { LegacyItem } from '../../src/model/legacy-value.js';
import { toAttributeMap } from '../../src/extract/dynamodb-json.js';

export function localClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    logger: quietAwsLogger,
    maxAttempts: 1,
  });
}

/** A legacy table as the .NET service had them: `Id` (S) as the only key. */
export async function createLegacyTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'Id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'Id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

export async function deleteTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
}

/** BatchWriteItem, 25 at a time, until nothing is left unprocessed. */
export async function putItems(client: DynamoDBClient, name: string, items: readonly LegacyItem[]): Promise<void> {
  for (let start = 0; start < items.length; start += 25) {
    let requests: WriteRequest[] = items.slice(start, start + 25).map((item) => ({ PutRequest: { Item: toAttributeMap(item) } }));
    while (requests.length > 0) {
      const output = await client.send(new BatchWriteItemCommand({ RequestItems: { [name]: requests } }));
      requests = output.UnprocessedItems?.[name] ?? [];
    }
  }
}
