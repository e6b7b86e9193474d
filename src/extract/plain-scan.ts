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
    const bytes = await bodyBytes(response.body);
    const split = splitItems(bytes);
    if (split !== undefined) {
      items = itemsAt(bytes, split.bounds);
      response.body = split.rest;
    } else {
      // Not shaped as a Scan's answer is: parsed whole, and whatever is wrong with it is the SDK's to say.
      const answer = JSON.parse(bytes.toString('utf8')) as { Items?: unknown };
      items = Array.isArray(answer.Items) ? parsedItems(answer.Items as TypedItem[]) : undefined;
      response.body = bytes;
    }
    return result;
  };
  command.middlewareStack.addRelativeTo(takeItems, { relation: 'after', toMiddleware: 'deserializerMiddleware', name: 'kpiMigratePlainScanItems' });
  const output = await client.send(command, abortSignal === undefined ? undefined : { abortSignal });
  // A handler that answered without our middleware seeing a body of items leaves what the SDK read.
  return { ...output, Items: items ?? parsedItems((output.Items ?? []) as TypedItem[]) };
}

/** The answer's bytes as they came: decoded item by item, never as one string for the page. */
async function bodyBytes(body: unknown): Promise<Buffer> {
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body === undefined || body === null) return Buffer.from('{}');
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/**
 * Each item's text is decoded from the answer's bytes when it is asked for. A page decoded whole
 * is one string of about a megabyte, allocated straight into the old generation, and two bytes a
 * character as soon as one item holds a character beyond Latin-1; an item decoded alone is a small
 * string that dies young, one byte a character unless that item itself needs two, and what a
 * record keeps of its page until its batch is written is the page's bytes, outside the heap.
 */
function itemsAt(bytes: Buffer, bounds: readonly number[]): ScannedItems {
  const textOf = (index: number): string => bytes.toString('utf8', bounds[2 * index], bounds[2 * index + 1]);
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
    flat(index, into) {
      const text = textOf(index);
      return scanTypedItem(text, 0, text.length, into);
    },
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
function stringEnd(bytes: Uint8Array, start: number): number {
  for (let at = start + 1; at < bytes.length; at++) {
    const code = bytes[at];
    if (code === BACKSLASH) at++;
    else if (code === QUOTE) return at;
  }
  return -1;
}

const ITEMS_KEY = Buffer.from('Items');

/**
 * Where each member of the answer's top-level `Items` array starts and ends (pairs of byte
 * offsets), and the answer with `"Items":[]` instead: found by following strings and brackets,
 * without decoding or parsing (a byte of a multi-byte UTF-8 character is never one of JSON's
 * structural characters). Undefined when the bytes are not an object whose `Items` is an array of
 * objects (the caller then parses them whole); whether each item is JSON is for its own parse to say.
 */
export function splitItems(bytes: Uint8Array): { bounds: number[]; rest: Buffer } | undefined {
  const bounds: number[] = [];
  let depth = 0;
  let isItemsKey = false;
  let itemsStart = -1;
  let itemsEnd = -1;
  let itemStart = -1;
  let inItems = false;
  for (let at = 0; at < bytes.length; at++) {
    const code = bytes[at]!;
    if (code === QUOTE) {
      const end = stringEnd(bytes, at);
      if (end < 0) return undefined;
      if (inItems && depth === 2) return undefined;
      if (depth === 1) {
        let after = end + 1;
        while (isSpace(bytes[after]!)) after++;
        isItemsKey = bytes[after] === COLON && end - at - 1 === ITEMS_KEY.length && ITEMS_KEY.equals(bytes.subarray(at + 1, end));
      }
      at = end;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      if (depth === 0 && code !== OPEN_BRACE) return undefined;
      depth++;
      if (depth === 2 && code === OPEN_BRACKET && isItemsKey) {
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
  return { bounds, rest: Buffer.concat([bytes.subarray(0, itemsStart), Buffer.from('[]'), bytes.subarray(itemsEnd)]) };
}
