import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { pipeline, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import streamJson from 'stream-json';
import Pick from 'stream-json/filters/Pick.js';
import StreamArray from 'stream-json/streamers/StreamArray.js';
import { MigrateError } from '../errors.js';
import type { LegacyEntity, TableNames } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import { fromAttributeMap, fromAttributeValue } from './dynamodb-json.js';
import { unreadableRecord } from '../model/unreadable.js';
import { candidatePaths, findTableExport, type ExportDataFile, type TableExport } from './export-layout.js';
import { InvalidUtf8Error, utf8LineCheck } from './utf8-lines.js';
import type { LegacySource, ResumeState, SourcePage } from '../model/source.js';

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

/** A file's decoded bytes, and the MD5 of its stored bytes once they have all gone through. */
interface OpenedFile {
  input: Readable;
  md5Base64(): string;
}

function openFile(file: ExportDataFile): OpenedFile {
  const hash: Hash = createHash('md5');
  const raw = createReadStream(file.path);
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  // pipeline() destroys every stage with the first error, so a truncated .gz (or a line that is
  // not UTF-8, which decoding would silently turn into U+FFFD) surfaces on `input`.
  const input = file.gzip ? pipeline(raw, tap, createGunzip(), utf8LineCheck(), () => {}) : pipeline(raw, tap, utf8LineCheck(), () => {});
  return { input, md5Base64: () => hash.digest('base64') };
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
function checkAgainstManifest(file: ExportDataFile, items: number, md5: string): MigrateError | undefined {
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

/** A line of an export file and its number (from 1). */
export interface ExportFileLine {
  text: string;
  number: number;
}

/**
 * The lines of a line file after line `skip`, blank ones too (they count as lines, not items).
 * Bytes that are not UTF-8, a stream that breaks (a truncated .gz), a resume position past the
 * end, or items or an MD5 that differ from manifest-files.json end it with SOURCE_CORRUPT naming
 * the file (and the line). Stopping early closes the file.
 */
export async function* exportFileLines(file: ExportDataFile, skip: number): AsyncGenerator<ExportFileLine> {
  const opened = openFile(file);
  const lines = createInterface({ input: opened.input, crlfDelay: Infinity });
  let consumed = 0;
  let itemsInFile = 0;
  let failure: MigrateError | undefined;
  try {
    try {
      for await (const text of lines) {
        consumed += 1;
        if (!isBlank(text)) itemsInFile += 1;
        if (consumed > skip) yield { text, number: consumed };
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
    if (failure !== undefined) throw failure;
  } finally {
    lines.close();
    opened.input.destroy();
  }
}

/**
 * Pages of a line file from line `skip` on. A line that is not an item is an unreadable item (a
 * reject). A file that breaks (exportFileLines) ends with SOURCE_CORRUPT, after a last page with
 * every item before the break.
 */
async function* readLineFile(
  file: ExportDataFile,
  entity: LegacyEntity,
  skip: number,
  pageSize: number,
): AsyncGenerator<SourcePage> {
  const page = (items: LegacyItem[], line: number, done: boolean): SourcePage => ({
    entity,
    partition: file.partition,
    items,
    position: { line },
    done,
  });
  let consumed = skip;
  let items: LegacyItem[] = [];
  try {
    for await (const line of exportFileLines(file, skip)) {
      if (!isBlank(line.text)) {
        let item: LegacyItem;
        try {
          item = parseExportLine(line.text);
          Object.defineProperty(item, EXPORT_LINE, { value: line.text });
        } catch {
          item = unreadableLine(line.text, `line ${line.number} of ${file.partition}`);
        }
        items.push(item);
      }
      consumed = line.number;
      if (items.length >= pageSize) {
        yield page(items, consumed, false);
        items = [];
      }
    }
  } catch (error) {
    if (items.length > 0) yield page(items, consumed, false);
    throw error;
  }
  yield page(items, consumed, true);
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
  for await (const line of exportFileLines(file, 0)) if (!isBlank(line.text)) count += 1;
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

  async function* readTable(entity: LegacyEntity, from?: ResumeState): AsyncGenerator<SourcePage> {
    const found = await locate(entity);
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
      if (!from?.[partition]?.done) yield { entity, partition, items: [], position: null, done: true };
      return;
    }
    for (const file of files) {
      const state = from?.[file.partition];
      if (state?.done) continue;
      const skip = resumeLine(file.partition, state?.position);
      if ((await formatOf(file)) === 'dump') yield* readDumpFile(file, entity, skip, pageSize);
      else yield* readLineFile(file, entity, skip, pageSize);
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
    if (found?.expectedItems !== undefined && total !== found.expectedItems) {
      throw new MigrateError('SOURCE_CORRUPT', `${found.layout} of ${found.table} holds ${total} items but its summary says ${found.expectedItems}`);
    }
    return total;
  }

  /** A full read of the table's files (O(table)): export files have no index by Id. */
  async function getItems(entity: LegacyEntity, ids: readonly string[]): Promise<LegacyItem[]> {
    const wanted = new Set(ids);
    const found = new Map<string, LegacyItem>();
    if (wanted.size === 0) return [];
    for await (const page of readTable(entity)) {
      for (const item of page.items) {
        if (typeof item.Id === 'string' && wanted.has(item.Id) && !found.has(item.Id)) found.set(item.Id, item);
      }
      if (found.size === wanted.size) break;
    }
    return [...wanted].flatMap((id) => {
      const item = found.get(id);
      return item === undefined ? [] : [item];
    });
  }

  return {
    kind: 'export',
    readTable,
    countItems,
    getItems,
    async close() {},
  };
}
