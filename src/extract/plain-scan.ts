import { ScanCommand, type DynamoDBClient, type ScanCommandInput, type ScanCommandOutput } from '@aws-sdk/client-dynamodb';
import type { DeserializeMiddleware } from '@smithy/types';
import type { TypedItem } from '../model/dynamodb-json.js';

/** A Scan's answer with its items as DynamoDB JSON (`{"S": "…"}`, binary as base64 text), as an export line holds them. */
export type PlainScanOutput = Omit<ScanCommandOutput, 'Items'> & { Items: TypedItem[] };

/**
 * A Scan whose items are parsed once, with JSON.parse, and handed over as they came: the SDK's
 * deserializer would walk every attribute again to build its own AttributeValue objects (base64
 * decoded), which the mapping then reads only to throw away. Everything else is the SDK's own
 * request: signing, the abort signal, errors (an answer that is not 200 is left to the SDK, so a
 * throttle is still its ProvisionedThroughputExceededException), and the rest of the answer
 * (LastEvaluatedKey as AttributeValues, ConsumedCapacity, Count) deserialized by it.
 */
export async function sendPlainScan(client: DynamoDBClient, input: ScanCommandInput, abortSignal?: AbortSignal): Promise<PlainScanOutput> {
  const command = new ScanCommand(input);
  let items: TypedItem[] | undefined;
  // Right inside the SDK's deserializer: it sees the HTTP answer as the handler (and any other
  // middleware nearer the network) gave it, and gives the deserializer the answer less its items.
  const takeItems: DeserializeMiddleware<ScanCommandInput, ScanCommandOutput> = (next) => async (args) => {
    const result = await next(args);
    const response = result.response as { statusCode?: number; body?: unknown };
    if (response.statusCode !== 200) return result;
    const answer = JSON.parse(await bodyText(response.body)) as { Items?: TypedItem[] } & Record<string, unknown>;
    items = answer.Items ?? [];
    delete answer.Items;
    response.body = Buffer.from(JSON.stringify(answer));
    return result;
  };
  command.middlewareStack.addRelativeTo(takeItems, { relation: 'after', toMiddleware: 'deserializerMiddleware', name: 'kpiMigratePlainScanItems' });
  const output = await client.send(command, abortSignal === undefined ? undefined : { abortSignal });
  // A handler that answered without a body of items (a test's injected answer) leaves what the SDK read.
  return { ...output, Items: items ?? (output.Items as TypedItem[] | undefined) ?? [] };
}

async function bodyText(body: unknown): Promise<string> {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (body === undefined || body === null) return '{}';
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
