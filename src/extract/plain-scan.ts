import { ScanCommand, type DynamoDBClient, type ScanCommandInput, type ScanCommandOutput } from '@aws-sdk/client-dynamodb';
import type { DeserializeMiddleware } from '@smithy/types';
import type { FlatItem, TypedItem } from '../model/dynamodb-json.js';
import { scanTypedItem } from './export-line-scan.js';

/** A Scan page's items as the answer held them: DynamoDB JSON (`{"S": "…"}`, binary as base64 text). */
export interface ScannedItems {
  readonly count: number;
  /** Item `index` parsed anew at each call (so that it dies young); undefined when its text is not JSON. */
  parse(index: number): TypedItem | undefined;
  /** Item `index` as JSON text. */
  text(index: number): string;
  /** Item `index` read flat into `into` (scanTypedItem); false: only `parse` reads it. */
  flat(index: number, into: FlatItem): boolean;
}

export type PlainScanOutput = Omit<ScanCommandOutput, 'Items'> & { Items: ScannedItems };

/**
 * A Scan whose items are handed over as the answer held them, each parsed with JSON.parse when
 * the consumer asks for it. The SDK's deserializer would build a tree of AttributeValue objects
 * for the whole page at once (a page of 1,000 items is megabytes of objects, all alive until the
 * last is mapped, which the reader's small young generation then promotes and collects again),
 * only for the mapping to read them and throw them away. Everything else is the SDK's own
 * request: signing, the abort signal, errors (an answer that is not 200 is left to the SDK, so a
 * throttle is still its ProvisionedThroughputExceededException), and the rest of the answer
 * (LastEvaluatedKey as AttributeValues, ConsumedCapacity, Count) deserialized by it.
 */
export async function sendPlainScan(client: DynamoDBClient, input: ScanCommandInput, abortSignal?: AbortSignal): Promise<PlainScanOutput> {
  const command = new ScanCommand(input);
  let items: ScannedItems | undefined;
  // Right inside the SDK's deserializer: it sees the HTTP answer as the handler (and any other
  // middleware nearer the network) gave it, and gives the deserializer the answer less its items.
  const takeItems: DeserializeMiddleware<ScanCommandInput, ScanCommandOutput> = (next) => async (args) => {
    const result = await next(args);
    const response = result.response as { statusCode?: number; body?: unknown };
    if (response.statusCode !== 200) return result;
    const text = await bodyText(response.body);
    const split = splitItems(text);
    if (split !== undefined) {
      items = itemsAt(text, split.bounds);
      response.body = Buffer.from(split.rest);
    } else {
      // Not shaped as a Scan's answer is: parsed whole, and whatever is wrong with it is the SDK's to say.
      const answer = JSON.parse(text) as { Items?: unknown };
      items = Array.isArray(answer.Items) ? parsedItems(answer.Items as TypedItem[]) : undefined;
      response.body = Buffer.from(text);
    }
    return result;
  };
  command.middlewareStack.addRelativeTo(takeItems, { relation: 'after', toMiddleware: 'deserializerMiddleware', name: 'kpiMigratePlainScanItems' });
  const output = await client.send(command, abortSignal === undefined ? undefined : { abortSignal });
  // A handler that answered without our middleware seeing a body of items leaves what the SDK read.
  return { ...output, Items: items ?? parsedItems((output.Items ?? []) as TypedItem[]) };
}

async function bodyText(body: unknown): Promise<string> {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (body === undefined || body === null) return '{}';
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function itemsAt(text: string, bounds: readonly number[]): ScannedItems {
  const textOf = (index: number): string => text.slice(bounds[2 * index], bounds[2 * index + 1]);
  return {
    count: bounds.length / 2,
    parse(index) {
      try {
        return JSON.parse(textOf(index)) as TypedItem;
      } catch {
        return undefined;
      }
    },
    text: textOf,
    flat: (index, into) => scanTypedItem(text, bounds[2 * index]!, bounds[2 * index + 1]!, into),
  };
}

function parsedItems(items: readonly TypedItem[]): ScannedItems {
  return { count: items.length, parse: (index) => items[index], text: (index) => JSON.stringify(items[index]), flat: (index, into) => (into.fill(items[index]!), true) };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

const isSpace = (code: number): boolean => code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;

/** The index of the quote that closes the string opening at `start`; -1 if none does. */
function stringEnd(text: string, start: number): number {
  let at = start;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

/**
 * Where each member of the answer's top-level `Items` array starts and ends (pairs of offsets),
 * and the answer with `"Items":[]` instead: found by following strings and brackets, without
 * parsing. Undefined when the text is not an object whose `Items` is an array of objects (the
 * caller then parses it whole); whether each item is JSON is for its own parse to say.
 */
export function splitItems(text: string): { bounds: number[]; rest: string } | undefined {
  const bounds: number[] = [];
  let depth = 0;
  let key: string | undefined;
  let itemsStart = -1;
  let itemsEnd = -1;
  let itemStart = -1;
  let inItems = false;
  for (let at = 0; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code === QUOTE) {
      const end = stringEnd(text, at);
      if (end < 0) return undefined;
      if (inItems && depth === 2) return undefined;
      if (depth === 1) {
        let after = end + 1;
        while (isSpace(text.charCodeAt(after))) after++;
        key = text.charCodeAt(after) === COLON ? text.slice(at + 1, end) : undefined;
      }
      at = end;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      if (depth === 0 && code !== OPEN_BRACE) return undefined;
      depth++;
      if (depth === 2 && code === OPEN_BRACKET && key === 'Items') {
        if (itemsStart >= 0) return undefined;
        inItems = true;
        itemsStart = at;
      } else if (inItems && depth === 3) {
        if (code !== OPEN_BRACE) return undefined;
        itemStart = at;
      }
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      if (inItems && depth === 3) bounds.push(itemStart, at + 1);
      else if (inItems && depth === 2) {
        inItems = false;
        itemsEnd = at + 1;
      }
      depth--;
      if (depth < 0) return undefined;
    } else if (inItems && depth === 2 && code !== COMMA && !isSpace(code)) {
      return undefined;
    }
  }
  if (depth !== 0 || itemsStart < 0 || itemsEnd < 0) return undefined;
  return { bounds, rest: `${text.slice(0, itemsStart)}[]${text.slice(itemsEnd)}` };
}
