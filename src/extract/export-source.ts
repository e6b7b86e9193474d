import { scanExportLine } from './export-line-scan.js';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import streamJson from 'stream-json';
import Pick from 'stream-json/filters/Pick.js';
import StreamArray from 'stream-json/streamers/StreamArray.js';
import { MigrateError } from '../errors.js';
import type { LegacyEntity, TableNames } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import { FLAT_OTHER, FLAT_S, FlatItem, type TypedItem } from '../model/dynamodb-json.js';
import { fromAttributeMap, fromAttributeValue } from './dynamodb-json.js';
import { unreadableRecord } from '../model/unreadable.js';
import { candidatePaths, findTableExport, type ExportDataFile, type TableExport } from './export-layout.js';
import { InvalidUtf8Error, linesOf, utf8LineCheck } from './utf8-lines.js';
import type { LegacySource, ResumeState, SourcePage, TypedSourcePage } from '../model/source.js';

export interface ExportSourceOptions {
  dir: string;
  tableNames: TableNames;
  /** Items per page (default 1000). */
  pageSize?: number;
  /**
   * A table with no files at all is an error (SOURCE_UNAVAILABLE, naming where it looked):
   * a missing table is more often a wrong `dir` or prefix than an empty table. With this set,
   * it reads as empty instead: one done page, partition = the table name.
   */
  allowMissingTables?: boolean;
}

export const DEFAULT_EXPORT_PAGE_SIZE = 1000;

/** A file's decoded bytes, and the MD5 of its stored bytes once they have all gone through (when a manifest gives one to check). */
interface OpenedFile {
  input: Readable;
  md5Base64(): string | undefined;
}

/**
 * Bytes per chunk read and per chunk gunzipped. Every chunk costs a round of stream callbacks and
 * a decode; at the 16 KiB zlib gives by default, a file of facts is thousands of them.
 */
const CHUNK_BYTES = 256 * 1024;

function openFile(file: ExportDataFile): OpenedFile {
  const raw = createReadStream(file.path, { highWaterMark: CHUNK_BYTES });
  // Only a manifest has a checksum to compare with: without one, no byte is hashed.
  const hash: Hash | undefined = file.manifest === undefined ? undefined : createHash('md5');
  const stages: Transform[] = [];
  if (hash !== undefined) {
    stages.push(
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          callback(null, chunk);
        },
      }),
    );
  }
  if (file.gzip) stages.push(createGunzip({ chunkSize: CHUNK_BYTES }));
  // pipeline() destroys every stage with the first error, so a truncated .gz (or a line that is
  // not UTF-8, which decoding would silently turn into U+FFFD) surfaces on `input`.
  const input = pipeline([raw, ...stages, utf8LineCheck()], () => {}) as unknown as Readable;
  return { input, md5Base64: () => hash?.digest('base64') };
}

export function corrupt(file: ExportDataFile, message: string, details: Record<string, unknown> = {}, cause?: unknown): MigrateError {
  return new MigrateError('SOURCE_CORRUPT', `export file ${file.path}: ${message}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { file: file.partition, path: file.path, ...details },
  });
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseExportLine(line: string): LegacyItem {
  const parsed: unknown = JSON.parse(line);
  if (!isObject(parsed) || !isObject(parsed.Item)) throw new Error('not a {"Item": {…}} object');
  return fromAttributeMap(parsed.Item as Record<string, AttributeValue>);
}

/**
 * A line that is not an item (not JSON, not `{"Item": {…}}`, an attribute that is not typed
 * DynamoDB JSON) is a record all the same: an unreadable item keeping the line whole,
 * `{"Id": <Item.Id.S, when there is one>, "line": "<the line>"}`, which the transform rejects.
 * Only bytes that are not text (invalid UTF-8) or a stream that breaks stop the file.
 */
function unreadableLine(line: string, where: string): LegacyItem {
  const unreadable = (attribute: string, what: string, id?: unknown): LegacyItem =>
    unreadableRecord(typeof id === 'string' ? { Id: id, line } : { line }, { attribute, message: `${where} is not a DynamoDB JSON item: ${what}` });
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    return unreadable('Item', `not JSON (${reason(error)})`);
  }
  if (!isObject(parsed) || !isObject(parsed.Item)) return unreadable('Item', 'not a {"Item": {…}} object');
  const attributes = parsed.Item;
  const id = isObject(attributes.Id) ? attributes.Id.S : undefined;
  for (const name of Object.keys(attributes)) {
    try {
      fromAttributeValue(attributes[name] as Record<string, unknown>);
    } catch (error) {
      return unreadable(name, reason(error), id);
    }
  }
  // Only a bug could bring a line here that parses after all: it is reported, not loaded half-read.
  return unreadable('Item', 'unreadable', id);
}

/**
 * The line an item of a line file was parsed from, kept on the item under a symbol (not
 * enumerable: no attribute, invisible to mappings and JSON). A line is a fifth of the memory of
 * its parsed item: the pipeline keeps the line of each record it may still have to reject, and
 * parses it again (`itemOfExportLine`) for the few it does.
 */
const EXPORT_LINE = Symbol('kpi-migrate.export-line');

export function exportLineOf(item: LegacyItem): string | undefined {
  return (item as { [EXPORT_LINE]?: string })[EXPORT_LINE];
}

/** The item of an export line, exactly as reading the file gave it. */
export function itemOfExportLine(line: string): LegacyItem {
  return parseExportLine(line);
}

export function isBlank(line: string): boolean {
  return line.trim().length === 0;
}

/** The manifest's promises about a file, checked once it has been read to the end. */
function checkAgainstManifest(file: ExportDataFile, items: number, md5: string | undefined): MigrateError | undefined {
  if (file.manifest === undefined) return undefined;
  if (items !== file.manifest.itemCount) {
    return corrupt(file, `holds ${items} items but manifest-files.json says itemCount ${file.manifest.itemCount}`, {
      items,
      itemCount: file.manifest.itemCount,
    });
  }
  if (md5 !== file.manifest.md5Checksum) {
    return corrupt(file, `MD5 is ${md5} but manifest-files.json says md5Checksum ${file.manifest.md5Checksum}`, {
      md5,
      md5Checksum: file.manifest.md5Checksum,
    });
  }
  return undefined;
}

/** Whether a `.json[.gz]` holds lines of items or one `{"Items": […]}` document (an `aws dynamodb scan` dump). */
async function sniffFormat(file: ExportDataFile): Promise<'lines' | 'dump'> {
  const { input } = openFile(file);
  let head = '';
  try {
    for await (const chunk of input) {
      head += (chunk as Buffer).toString('utf8');
      if (head.trimStart().length >= 16 || head.length >= 65_536) break;
    }
  } catch {
    // An unreadable start is reported by the real read, with its line number.
  } finally {
    input.destroy();
  }
  const start = head.trimStart();
  return start.startsWith('{') && !/^\{\s*"Item"\s*:/.test(start) ? 'dump' : 'lines';
}

/** The lines of a page of a line file: each line that holds an item, its line number, and where the page ends. */
export interface LinePage {
  lines: string[];
  lineNumbers: number[];
  consumed: number;
  done: boolean;
}

/**
 * Pages of a line file from line `skip` on. Blank lines count as lines, not items. Bytes that are
 * not UTF-8, or a stream that breaks (a truncated .gz), end the file with SOURCE_CORRUPT naming
 * the file and line, after a last page with every line before it.
 */
export async function* readLinePages(file: ExportDataFile, skip: number, pageSize: number): AsyncGenerator<LinePage> {
  const opened = openFile(file);
  let consumed = 0;
  let itemsInFile = 0;
  let page: LinePage = { lines: [], lineNumbers: [], consumed: 0, done: false };
  let failure: MigrateError | undefined;
  try {
    try {
      for await (const lines of linesOf(opened.input)) {
        for (const line of lines) {
          const lineNumber = consumed + 1;
          consumed = lineNumber;
          if (isBlank(line)) continue;
          itemsInFile += 1;
          if (lineNumber <= skip) continue;
          page.lines.push(line);
          page.lineNumbers.push(lineNumber);
          if (page.lines.length >= pageSize) {
            page.consumed = consumed;
            yield page;
            page = { lines: [], lineNumbers: [], consumed: 0, done: false };
          }
        }
      }
    } catch (error) {
      failure =
        error instanceof InvalidUtf8Error
          ? corrupt(file, `line ${error.line} is not valid UTF-8`, { line: error.line }, error)
          : corrupt(file, `unreadable after line ${consumed} (${reason(error)})`, { line: consumed + 1 }, error);
    }
    if (failure === undefined && consumed < skip) {
      failure = corrupt(file, `has ${consumed} lines but the resume position is line ${skip}: the file changed since`, { line: consumed });
    }
    failure ??= checkAgainstManifest(file, itemsInFile, opened.md5Base64());
    page.consumed = consumed;
    if (failure !== undefined) {
      if (page.lines.length > 0) yield page;
      throw failure;
    }
    page.done = true;
    yield page;
  } finally {
    opened.input.destroy();
  }
}

/** A line that is not an item is an unreadable item (a reject); see unreadableLine. */
function itemOfLine(line: string, lineNumber: number, partition: string): LegacyItem {
  try {
    const item = parseExportLine(line);
    Object.defineProperty(item, EXPORT_LINE, { value: line });
    return item;
  } catch {
    return unreadableLine(line, `line ${lineNumber} of ${partition}`);
  }
}

async function* readLineFile(file: ExportDataFile, entity: LegacyEntity, skip: number, pageSize: number): AsyncGenerator<SourcePage> {
  for await (const { lines, lineNumbers, consumed, done } of readLinePages(file, skip, pageSize)) {
    const items = lines.map((line, index) => itemOfLine(line, lineNumbers[index]!, file.partition));
    yield { entity, partition: file.partition, items, position: { line: consumed }, done };
  }
}

function typedItemOfLine(line: string): TypedItem | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isObject(parsed) && isObject(parsed.Item) ? parsed.Item : undefined;
}

/** The typed form of readLineFile: a line is parsed when its item is taken, and the item's tree built only for one the fast path does not vouch for. */
async function* readTypedLineFile(file: ExportDataFile, entity: LegacyEntity, skip: number, pageSize: number): AsyncGenerator<TypedSourcePage> {
  for await (const { lines, lineNumbers, consumed, done } of readLinePages(file, skip, pageSize)) {
    yield {
      entity,
      partition: file.partition,
      count: lines.length,
      typed: (index) => typedItemOfLine(lines[index]!),
      item: (index) => itemOfLine(lines[index]!, lineNumbers[index]!, file.partition),
      line: (index) => lines[index]!,
      flat: (index, into) => scanExportLine(lines[index]!, into),
      position: { line: consumed },
      done,
    };
  }
}

/**
 * Pages of an `aws dynamodb scan` dump, streamed token by token (never the whole document in
 * memory); the position counts array elements. `Count`, when present, is checked at the end.
 */
async function* readDumpFile(
  file: ExportDataFile,
  entity: LegacyEntity,
  skip: number,
  pageSize: number,
): AsyncGenerator<SourcePage> {
  const opened = openFile(file);
  const tokens = streamJson.parser({ streamValues: false });
  // The top level is watched beside the pick: whether `Items` is an array, and what `Count` says.
  let depth = 0;
  let topKey: unknown;
  let sawItems = false;
  let declaredCount: number | undefined;
  tokens.on('data', (token: { name: string; value?: unknown }) => {
    switch (token.name) {
      case 'startArray':
        if (depth === 1 && topKey === 'Items') sawItems = true;
        depth += 1;
        break;
      case 'startObject':
        depth += 1;
        break;
      case 'endArray':
      case 'endObject':
        depth -= 1;
        break;
      case 'keyValue':
        if (depth === 1) topKey = token.value;
        break;
      case 'numberValue':
        if (depth === 1 && topKey === 'Count') declaredCount = Number(token.value);
        break;
    }
  });
  const elements: Readable = pipeline(
    opened.input,
    tokens,
    Pick.pick({ filter: 'Items' }),
    StreamArray.streamArray(),
    () => {},
  );
  const page = (items: LegacyItem[], consumed: number, done: boolean): SourcePage => ({
    entity,
    partition: file.partition,
    items,
    position: { line: consumed },
    done,
  });
  let consumed = 0;
  let items: LegacyItem[] = [];
  let failure: MigrateError | undefined;
  try {
    try {
      for await (const element of elements as AsyncIterable<{ key: number; value: unknown }>) {
        const index = element.key;
        if (index < skip) {
          consumed = index + 1;
          continue;
        }
        if (!isObject(element.value)) {
          failure = corrupt(file, `Items[${index}] is not an item`, { item: index });
          break;
        }
        try {
          items.push(fromAttributeMap(element.value as Record<string, AttributeValue>));
        } catch (error) {
          failure = corrupt(file, `Items[${index}] is not a DynamoDB JSON item: ${reason(error)}`, { item: index }, error);
          break;
        }
        consumed = index + 1;
        if (items.length >= pageSize) {
          yield page(items, consumed, false);
          items = [];
        }
      }
    } catch (error) {
      failure = corrupt(file, `unreadable after item ${consumed} (${reason(error)})`, { item: consumed }, error);
    }
    if (failure === undefined && !sawItems) failure = corrupt(file, 'has no top-level "Items" array');
    if (failure === undefined && consumed < skip) {
      failure = corrupt(file, `has ${consumed} items but the resume position is ${skip}: the file changed since`);
    }
    if (failure === undefined && declaredCount !== undefined && declaredCount !== consumed) {
      failure = corrupt(file, `holds ${consumed} items but its "Count" says ${declaredCount}`, { items: consumed, count: declaredCount });
    }
    if (failure !== undefined) {
      if (items.length > 0) yield page(items, consumed, false);
      throw failure;
    }
    yield page(items, consumed, true);
  } finally {
    elements.destroy();
    opened.input.destroy();
  }
}

async function countLines(file: ExportDataFile): Promise<number> {
  let count = 0;
  for await (const page of readLinePages(file, 0, DEFAULT_EXPORT_PAGE_SIZE)) count += page.lines.length;
  return count;
}

export function resumeLine(partition: string, position: { [key: string]: unknown } | null | undefined): number {
  if (position === null || position === undefined) return 0;
  const line = position.line;
  if (typeof line !== 'number' || !Number.isInteger(line) || line < 0) {
    throw new MigrateError('RUN_STATE', `resume position of ${partition} is not {"line": n}: ${JSON.stringify(position)}`);
  }
  return line;
}

/**
 * Whether a line without a backslash quotes one of the wanted texts. In such a line JSON's strings
 * are the texts between its quotes, taken in pairs, as they stand: an Id its item (or unreadable
 * record) holds as text is one of them, and a line whose quotes do not pair is no JSON at all.
 */
function quotesWanted(line: string, wanted: IdFilter): boolean {
  // Most lines name Id once, as {"S":…} alone: that text is the only one that can be the item's Id.
  const name = line.indexOf('"Id"');
  if (name !== -1 && line.startsWith(ID_AS_TEXT, name + 4) && line.indexOf('"Id"', name + 4) === -1) {
    const start = name + 4 + ID_AS_TEXT.length;
    const end = line.indexOf('"', start);
    if (end !== -1 && line.charCodeAt(end + 1) === 0x7d) return wanted.has(line.slice(start, end));
  }
  for (let open = line.indexOf('"'); open !== -1; ) {
    const close = line.indexOf('"', open + 1);
    if (close === -1) return false;
    if (wanted.mayQuote(line, open, close) && wanted.has(line.slice(open + 1, close))) return true;
    open = line.indexOf('"', close + 1);
  }
  return false;
}

const ID_AS_TEXT = ':{"S":"';

/**
 * The Ids a read by key looks for: `has` decides; `mayQuote` passes over quoted texts (between
 * quotes at `open` and `close`) that cannot be one before a text is cut for `has`; `size` is how
 * many there are, when a list gives them (the read may stop once it has found them all).
 */
interface IdFilter {
  has(id: string): boolean;
  mayQuote(line: string, open: number, close: number): boolean;
  size?: number;
}

function listedIds(ids: readonly string[]): IdFilter {
  const listed = new Set(ids);
  const lengths = new Set(ids.map((id) => id.length));
  return { has: (id) => listed.has(id), mayQuote: (_, open, close) => lengths.has(close - open - 1), size: listed.size };
}

function idsWhere(wanted: (id: string) => boolean): IdFilter {
  // An Id is a value: after a colon (and any blanks), never a name, which follows { or a comma.
  const mayQuote = (line: string, open: number): boolean => {
    let at = open - 1;
    while (at >= 0 && isJsonBlank(line.charCodeAt(at))) at--;
    return line.charCodeAt(at) === 0x3a;
  };
  return { has: wanted, mayQuote };
}

function isJsonBlank(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/** The items found for these Ids, in the order asked (each once). */
function inOrderAsked(ids: readonly string[], found: ReadonlyMap<string, LegacyItem>): LegacyItem[] {
  return [...new Set(ids)].flatMap((id) => {
    const item = found.get(id);
    return item === undefined ? [] : [item];
  });
}

/** A line's Id read flat is no string at all (N, BOOL, NULL): its item has no text Id, readable or not. */
const NO_TEXT_ID = Symbol('no text Id');

/**
 * The Id of an item read flat as its parsed item (or, for a line that is no item, its unreadable
 * record) holds it: the text of the last `Id` given as S (JSON.parse keeps the last of a name
 * given twice), NO_TEXT_ID for another scalar, undefined when only parsing the line tells.
 */
function flatIdOf(flat: FlatItem): string | typeof NO_TEXT_ID | undefined {
  for (let at = flat.count - 1; at >= 0; at--) {
    if (flat.names[at] !== 'Id') continue;
    const tag = flat.tags[at];
    return tag === FLAT_S ? flat.texts[at]! : tag === FLAT_OTHER ? undefined : NO_TEXT_ID;
  }
  return NO_TEXT_ID;
}

function mayBeWanted(id: string | typeof NO_TEXT_ID | undefined, wanted: IdFilter): boolean {
  return id === undefined || (id !== NO_TEXT_ID && wanted.has(id));
}

/**
 * DynamoDB export files read as a source: files one after another, sorted by name, each a
 * partition named by its path relative to `dir`; see export-layout.ts for the layouts found.
 */
export function createExportSource(options: ExportSourceOptions): LegacySource {
  const pageSize = options.pageSize ?? DEFAULT_EXPORT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new MigrateError('CONFIG_INVALID', `export page size must be a positive integer, got ${pageSize}`);
  }
  const formats = new Map<string, 'lines' | 'dump'>();

  async function formatOf(file: ExportDataFile): Promise<'lines' | 'dump'> {
    if (file.format === 'lines') return 'lines';
    let format = formats.get(file.path);
    if (format === undefined) {
      format = await sniffFormat(file);
      formats.set(file.path, format);
    }
    return format;
  }

  async function locate(entity: LegacyEntity): Promise<TableExport | undefined> {
    const table = options.tableNames[entity];
    const dirKind = await stat(options.dir).then(
      (s) => (s.isDirectory() ? 'dir' : 'other'),
      () => 'missing',
    );
    if (dirKind !== 'dir') throw new MigrateError('SOURCE_UNAVAILABLE', `export directory ${options.dir} does not exist or is not a directory`);
    const found = await findTableExport(options.dir, table);
    if (found === undefined && !options.allowMissingTables) {
      throw new MigrateError(
        'SOURCE_UNAVAILABLE',
        `no files for table ${table} (${entity}); looked for: ${candidatePaths(options.dir, table).join(', ')}. ` +
          'If the table really is absent, allow missing tables to read it as empty.',
        { details: { table, entity, looked: candidatePaths(options.dir, table) } },
      );
    }
    return found;
  }

  /**
   * The table's files from `from` on, each read by `readFile`; a table with no files is one empty
   * done page. `located`: the table as a caller located it already (it is not looked for again).
   */
  async function* readFiles<Page>(
    entity: LegacyEntity,
    from: ResumeState | undefined,
    readFile: (file: ExportDataFile, format: 'lines' | 'dump', skip: number) => AsyncIterable<Page>,
    emptyPage: (partition: string) => Page,
    located?: { found: TableExport | undefined },
  ): AsyncGenerator<Page> {
    const found = located === undefined ? await locate(entity) : located.found;
    const files = found?.files ?? [];
    const known = new Set(files.map((f) => f.partition));
    for (const partition of Object.keys(from ?? {})) {
      if (!known.has(partition) && partition !== options.tableNames[entity]) {
        // The export changed since (a file gone or renamed), not the command: restoring the files lets the same command go on.
        throw new MigrateError('SOURCE_CORRUPT', `resume state names ${partition}, which is no longer among the files of ${options.tableNames[entity]}: the export changed since`, {
          details: { file: partition },
        });
      }
    }
    if (files.length === 0) {
      const partition = options.tableNames[entity];
      if (!from?.[partition]?.done) yield emptyPage(partition);
      return;
    }
    for (const file of files) {
      const state = from?.[file.partition];
      if (state?.done) continue;
      yield* readFile(file, await formatOf(file), resumeLine(file.partition, state?.position));
    }
  }

  function readTable(entity: LegacyEntity, from?: ResumeState): AsyncGenerator<SourcePage> {
    return readFiles(
      entity,
      from,
      (file, format, skip) => (format === 'dump' ? readDumpFile(file, entity, skip, pageSize) : readLineFile(file, entity, skip, pageSize)),
      (partition): SourcePage => ({ entity, partition, items: [], position: null, done: true }),
    );
  }

  /** A dump's items are built as it is read (stream-json gives them as trees): its pages are typed in name only. */
  async function* typedDumpFile(file: ExportDataFile, entity: LegacyEntity, skip: number): AsyncGenerator<TypedSourcePage> {
    for await (const { items, ...page } of readDumpFile(file, entity, skip, pageSize)) {
      yield { ...page, count: items.length, typed: () => undefined, item: (index) => items[index]! };
    }
  }

  function readTypedTable(entity: LegacyEntity, from?: ResumeState): AsyncGenerator<TypedSourcePage> {
    return typedPages(entity, from);
  }

  function typedPages(entity: LegacyEntity, from?: ResumeState, located?: { found: TableExport | undefined }): AsyncGenerator<TypedSourcePage> {
    return readFiles(
      entity,
      from,
      (file, format, skip) => (format === 'dump' ? typedDumpFile(file, entity, skip) : readTypedLineFile(file, entity, skip, pageSize)),
      (partition): TypedSourcePage => ({ entity, partition, count: 0, typed: () => undefined, item: () => { throw new RangeError('an empty page has no items'); }, position: null, done: true }),
      located,
    );
  }

  /** A table's items counted whole must be as many as its summary (a manifest, a dump's Count) says, when it says. */
  function checkSummaryCount(found: TableExport | undefined, count: number): void {
    if (found?.expectedItems !== undefined && count !== found.expectedItems) {
      throw new MigrateError('SOURCE_CORRUPT', `${found.layout} of ${found.table} holds ${count} items but its summary says ${found.expectedItems}`);
    }
  }

  async function countItems(entity: LegacyEntity): Promise<number> {
    const found = await locate(entity);
    let total = 0;
    for (const file of found?.files ?? []) {
      if ((await formatOf(file)) === 'lines') {
        total += await countLines(file);
      } else {
        for await (const page of readDumpFile(file, entity, 0, pageSize)) total += page.items.length;
      }
    }
    checkSummaryCount(found, total);
    return total;
  }

  /** A full read of the table's files (O(table)): export files have no index by Id. */
  async function getItems(entity: LegacyEntity, ids: readonly string[]): Promise<LegacyItem[]> {
    if (ids.length === 0) return [];
    const found = (await readWanted(entity, listedIds(ids), true)).found;
    return inOrderAsked(ids, found);
  }

  /** countItems and getItems in one read of the files: reading by Id reads them whole anyway. */
  async function countAndGetItems(entity: LegacyEntity, ids: readonly string[]): Promise<{ count: number; items: LegacyItem[] }> {
    const { count, found } = await countAndRead(entity, listedIds(ids));
    return { count, items: inOrderAsked(ids, found) };
  }

  async function countAndGetItemsWhere(entity: LegacyEntity, wanted: (id: string) => boolean): Promise<{ count: number; items: LegacyItem[] }> {
    const { count, found } = await countAndRead(entity, idsWhere(wanted));
    return { count, items: [...found.values()] };
  }

  async function countAndRead(entity: LegacyEntity, wanted: IdFilter): Promise<{ count: number; found: Map<string, LegacyItem> }> {
    const found = await locate(entity);
    const read = await readWanted(entity, wanted, false, { found });
    checkSummaryCount(found, read.count);
    return read;
  }

  /** The first item of each wanted Id, in the table's order, and the table's items counted (unless the read stops once every listed Id is found). */
  async function readWanted(
    entity: LegacyEntity,
    wanted: IdFilter,
    stopWhenFound: boolean,
    located?: { found: TableExport | undefined },
  ): Promise<{ count: number; found: Map<string, LegacyItem> }> {
    const found = new Map<string, LegacyItem>();
    const flat = new FlatItem();
    const all = wanted.size ?? Infinity;
    let count = 0;
    for await (const page of typedPages(entity, undefined, located)) {
      count += page.count;
      for (let index = 0; index < page.count && found.size < all; index++) {
        // A line whose Id cannot be wanted is passed over unparsed: the item is built only for the few that may be.
        const line = page.line?.(index);
        if (line !== undefined && !line.includes('\\')) {
          if (!quotesWanted(line, wanted)) continue;
        } else if (page.flat?.(index, flat) && !mayBeWanted(flatIdOf(flat), wanted)) continue;
        const item = page.item(index);
        if (typeof item.Id === 'string' && wanted.has(item.Id) && !found.has(item.Id)) found.set(item.Id, item);
      }
      if (stopWhenFound && found.size === all) break;
    }
    return { count, found };
  }

  return {
    kind: 'export',
    readTable,
    readTypedTable,
    countItems,
    getItems,
    countAndGetItems,
    countAndGetItemsWhere,
    async close() {},
  };
}
