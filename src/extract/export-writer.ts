import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { MigrateError } from '../errors.js';
import { setAttribute, toJsonText } from '../model/legacy-value.js';
import { fromAttributeMap } from './dynamodb-json.js';

/**
 * Writers of the three source formats (contract §1): DynamoDB export files (flat or in the
 * Export-to-S3 layout), whole-table `aws dynamodb scan` dumps, and kv_store JSON lines. They
 * stream: items are pulled one file chunk at a time, with the file's back-pressure, so a table
 * of any size passes through. Each writer returns what it wrote with sizes and checksums, and
 * every directory gets a `manifest.json` listing them.
 */

export type AttributeMap = Record<string, AttributeValue>;
export type ItemSource = Iterable<AttributeMap> | AsyncIterable<AttributeMap>;
export type ExportLayout = 'flat' | 's3';

export interface WrittenFile {
  /** Relative to the directory written into, with `/` separators. */
  path: string;
  bytes: number;
  sha256: string;
  /** Items in the file, for data files. */
  items?: number;
}

export interface WrittenTable {
  table: string;
  itemCount: number;
  layout?: ExportLayout;
  exportId?: string;
  files: WrittenFile[];
}

export interface SourceManifest {
  format: 'dynamodb-export' | 'dynamodb-scan' | 'kv-store';
  createdAt: string;
  /** By table name (by key prefix for kv-store). */
  tables: { [table: string]: { itemCount: number; layout?: ExportLayout; exportId?: string } };
  files: WrittenFile[];
}

export interface ExportOptions {
  /** Items per data file (several files per table exercise the readers); default 100,000. */
  itemsPerFile?: number;
  /** The export's time, written into its manifests and id; default now. Fix it for byte-identical output. */
  exportTime?: Date;
  /** Written into manifest-summary.json only; default `kpi-migrate-export`. */
  s3Bucket?: string;
}

const CHUNK_CHARS = 64 * 1024;

// ---- DynamoDB JSON ---------------------------------------------------------------------------

/** DynamoDB JSON as export files and the AWS CLI write it: binary as base64 text. */
export function toDynamoDbJson(item: AttributeMap): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // setAttribute: `out[name] =` would drop an attribute named __proto__.
  for (const [name, value] of Object.entries(item)) setAttribute(out, name, encodeAttribute(value));
  return out;
}

function encodeAttribute(value: AttributeValue): unknown {
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.M !== undefined) return { M: toDynamoDbJson(value.M) };
  if (value.L !== undefined) return { L: value.L.map(encodeAttribute) };
  return value;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

// ---- streaming plumbing ------------------------------------------------------------------------

interface Digest {
  bytes: number;
  sha256: string;
  md5Base64: string;
  md5Hex: string;
}

/** Passes bytes through while hashing them as they are stored. */
class DigestTap extends Transform {
  private readonly sha256 = createHash('sha256');
  private readonly md5 = createHash('md5');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.sha256.update(chunk);
    this.md5.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  digest(): Digest {
    const md5 = this.md5.digest();
    return { bytes: this.bytes, sha256: this.sha256.digest('hex'), md5Base64: md5.toString('base64'), md5Hex: md5.toString('hex') };
  }
}

async function writeStream(file: string, chunks: AsyncIterable<string>, gzip: boolean): Promise<Digest> {
  await mkdir(path.dirname(file), { recursive: true });
  const tap = new DigestTap();
  const source = Readable.from(chunks);
  try {
    // Node's gzip header has mtime 0 and no file name: the same lines give the same bytes.
    if (gzip) await pipeline(source, createGzip(), tap, createWriteStream(file));
    else await pipeline(source, tap, createWriteStream(file));
  } catch (error) {
    throw new MigrateError('INTERNAL', `cannot write ${file}: ${(error as Error).message}`, { cause: error });
  }
  return tap.digest();
}

async function writeSmallFile(dir: string, relative: string, text: string): Promise<WrittenFile> {
  const file = path.join(dir, ...relative.split('/'));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  const bytes = Buffer.from(text);
  return { path: relative, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** One pass over any item source, able to stop at a file boundary and go on in the next file. */
class ItemCursor {
  private readonly iterator: Iterator<AttributeMap> | AsyncIterator<AttributeMap>;
  private current: IteratorResult<AttributeMap> | undefined;

  constructor(items: ItemSource) {
    this.iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  }

  async peek(): Promise<AttributeMap | undefined> {
    this.current ??= await this.iterator.next();
    return this.current.done ? undefined : this.current.value;
  }

  async take(): Promise<AttributeMap | undefined> {
    const item = await this.peek();
    this.current = undefined;
    return item;
  }
}

/** Text chunks of up to `limit` items rendered by `line`; `counted.items` says how many went. */
async function* linesOf(
  cursor: ItemCursor,
  limit: number,
  line: (item: AttributeMap, position: number) => string,
  counted: { items: number },
): AsyncGenerator<string> {
  let chunk = '';
  while (counted.items < limit) {
    const item = await cursor.take();
    if (item === undefined) break;
    chunk += line(item, counted.items);
    counted.items += 1;
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

const exportLine = (item: AttributeMap): string => `{"Item":${JSON.stringify(toDynamoDbJson(item))}}\n`;

// ---- (a) DynamoDB export files -------------------------------------------------------------------

/**
 * One table as DynamoDB export files under `<dir>/<table>/`: flat (`part-00000.json.gz`, …) or
 * the Export-to-S3 layout (`AWSDynamoDB/<export-id>/manifest-summary.json`, `manifest-files.json`,
 * `data/*.json.gz`). A table always has at least one data file, empty if the table is.
 */
export async function writeExportTable(
  dir: string,
  table: string,
  items: ItemSource,
  layout: ExportLayout,
  options: ExportOptions = {},
): Promise<WrittenTable> {
  const itemsPerFile = options.itemsPerFile ?? 100_000;
  if (!Number.isSafeInteger(itemsPerFile) || itemsPerFile < 1) {
    throw new MigrateError('USAGE', `itemsPerFile must be a whole number ≥ 1 (got ${itemsPerFile})`);
  }
  const exportTime = options.exportTime ?? new Date();
  const exportId = `${String(exportTime.getTime()).padStart(14, '0')}-${createHash('sha256').update(table).digest('hex').slice(0, 8)}`;
  const exportPrefix = `AWSDynamoDB/${exportId}`;
  const cursor = new ItemCursor(items);
  const dataFiles: (WrittenFile & { items: number; md5Base64: string; md5Hex: string; key: string })[] = [];
  let uncompressedBytes = 0;

  do {
    const part = dataFiles.length;
    const key = layout === 's3' ? `${exportPrefix}/data/${dataFileName(exportId, part)}.json.gz` : `part-${String(part).padStart(5, '0')}.json.gz`;
    const counted = { items: 0 };
    const measure = (line: string) => {
      uncompressedBytes += Buffer.byteLength(line);
      return line;
    };
    const digest = await writeStream(
      path.join(dir, table, ...key.split('/')),
      linesOf(cursor, itemsPerFile, (item) => measure(exportLine(item)), counted),
      true,
    );
    dataFiles.push({ path: `${table}/${key}`, key, bytes: digest.bytes, sha256: digest.sha256, items: counted.items, md5Base64: digest.md5Base64, md5Hex: digest.md5Hex });
  } while ((await cursor.peek()) !== undefined);

  const itemCount = dataFiles.reduce((sum, file) => sum + file.items, 0);
  const files: WrittenFile[] = dataFiles.map(({ path: p, bytes, sha256, items: n }) => ({ path: p, bytes, sha256, items: n }));
  if (layout === 'flat') return { table, itemCount, layout, files };

  const manifestFiles = dataFiles
    .map((file) => JSON.stringify({ itemCount: file.items, md5Checksum: file.md5Base64, etag: file.md5Hex, dataFileS3Key: file.key }))
    .map((line) => `${line}\n`)
    .join('');
  const manifestFilesKey = `${exportPrefix}/manifest-files.json`;
  const time = exportTime.toISOString();
  const arn = `arn:aws:dynamodb:us-east-1:000000000000:table/${table}`;
  const summary = {
    version: '2020-06-30',
    exportArn: `${arn}/export/${exportId}`,
    startTime: time,
    endTime: time,
    tableArn: arn,
    tableId: uuidFromHash(table),
    exportTime: time,
    s3Bucket: options.s3Bucket ?? 'kpi-migrate-export',
    s3Prefix: null,
    s3SseAlgorithm: 'AES256',
    s3SseKmsKeyId: null,
    manifestFilesS3Key: manifestFilesKey,
    billedSizeBytes: uncompressedBytes,
    itemCount,
    outputFormat: 'DYNAMODB_JSON',
    exportType: 'FULL_EXPORT',
  };
  const tableDir = path.join(dir, table);
  const manifests = [
    await writeSmallFile(tableDir, `${exportPrefix}/manifest-summary.json`, `${JSON.stringify(summary)}\n`),
    await writeSmallFile(tableDir, manifestFilesKey, manifestFiles),
  ].map((file) => ({ ...file, path: `${table}/${file.path}` }));
  return { table, itemCount, layout, exportId, files: [...manifests, ...files] };
}

/** Several tables as export files in `dir`, each in its layout, plus `manifest.json`. */
export async function writeDynamoDbExport(
  dir: string,
  tables: readonly { table: string; items: ItemSource; layout: ExportLayout }[],
  options: ExportOptions = {},
): Promise<SourceManifest> {
  const exportTime = options.exportTime ?? new Date();
  const written: WrittenTable[] = [];
  for (const { table, items, layout } of tables) written.push(await writeExportTable(dir, table, items, layout, { ...options, exportTime }));
  return writeManifest(dir, 'dynamodb-export', exportTime, ...manifestOf(written));
}

/** One change line of an incremental export: the record's key, its write time, its images. */
export interface ChangeRecord {
  keys: AttributeMap;
  /** Microseconds since the epoch, as decimal digits. */
  writeTimestampMicros: string;
  /** Absent: the write deleted the record. */
  newImage?: AttributeMap;
  /** Absent: the write inserted the record (or the view is NEW_IMAGE). */
  oldImage?: AttributeMap;
}

export interface IncrementalExportWindow {
  /** The changes made from `from` up to `to`. */
  from: Date;
  to: Date;
  /** When the export was asked for (its id, startTime); default `to`. */
  startTime?: Date;
  outputView?: 'NEW_AND_OLD_IMAGES' | 'NEW_IMAGE';
}

const changeLine = (change: ChangeRecord, view: IncrementalExportWindow['outputView']): string =>
  `${JSON.stringify({
    Metadata: { WriteTimestampMicros: { N: change.writeTimestampMicros } },
    Keys: toDynamoDbJson(change.keys),
    ...(change.newImage === undefined ? {} : { NewImage: toDynamoDbJson(change.newImage) }),
    ...(change.oldImage === undefined || view === 'NEW_IMAGE' ? {} : { OldImage: toDynamoDbJson(change.oldImage) }),
  })}\n`;

/**
 * One incremental export of a table (`exportType` INCREMENTAL_EXPORT, version 2023-08-01) as
 * DynamoDB writes it beside the table's other exports: `AWSDynamoDB/<export-id>/manifest-summary.json`
 * and `manifest-files.json`, its data files in the shared `AWSDynamoDB/data/` folder.
 */
export async function writeIncrementalExport(
  dir: string,
  table: string,
  changes: Iterable<ChangeRecord>,
  window: IncrementalExportWindow,
  options: Pick<ExportOptions, 'itemsPerFile' | 's3Bucket'> = {},
): Promise<WrittenTable> {
  const itemsPerFile = options.itemsPerFile ?? 100_000;
  if (!Number.isSafeInteger(itemsPerFile) || itemsPerFile < 1) {
    throw new MigrateError('USAGE', `itemsPerFile must be a whole number ≥ 1 (got ${itemsPerFile})`);
  }
  if (window.from.getTime() >= window.to.getTime()) throw new MigrateError('USAGE', 'an incremental export window must end after it starts');
  const view = window.outputView ?? 'NEW_AND_OLD_IMAGES';
  const startTime = window.startTime ?? window.to;
  const exportId = `${String(startTime.getTime()).padStart(14, '0')}-${createHash('sha256').update(`${table}/${window.from.toISOString()}/${window.to.toISOString()}`).digest('hex').slice(0, 8)}`;
  const iterator = changes[Symbol.iterator]();
  let next = iterator.next();
  const dataFiles: (WrittenFile & { items: number; md5Base64: string; md5Hex: string; key: string })[] = [];
  let uncompressedBytes = 0;
  do {
    const key = `AWSDynamoDB/data/${dataFileName(exportId, dataFiles.length)}.json.gz`;
    let items = 0;
    async function* chunks(): AsyncGenerator<string> {
      let chunk = '';
      while (!next.done && items < itemsPerFile) {
        const line = changeLine(next.value, view);
        uncompressedBytes += Buffer.byteLength(line);
        chunk += line;
        items += 1;
        next = iterator.next();
        if (chunk.length >= CHUNK_CHARS) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk.length > 0) yield chunk;
    }
    const digest = await writeStream(path.join(dir, table, ...key.split('/')), chunks(), true);
    dataFiles.push({ path: `${table}/${key}`, key, bytes: digest.bytes, sha256: digest.sha256, items, md5Base64: digest.md5Base64, md5Hex: digest.md5Hex });
  } while (!next.done);
  const itemCount = dataFiles.reduce((sum, file) => sum + file.items, 0);
  const exportPrefix = `AWSDynamoDB/${exportId}`;
  const manifestFilesKey = `${exportPrefix}/manifest-files.json`;
  const arn = `arn:aws:dynamodb:us-east-1:000000000000:table/${table}`;
  const summary = {
    version: '2023-08-01',
    exportArn: `${arn}/export/${exportId}`,
    startTime: startTime.toISOString(),
    endTime: startTime.toISOString(),
    tableArn: arn,
    tableId: uuidFromHash(table),
    exportFromTime: window.from.toISOString(),
    exportToTime: window.to.toISOString(),
    s3Bucket: options.s3Bucket ?? 'kpi-migrate-export',
    s3Prefix: null,
    s3SseAlgorithm: 'AES256',
    s3SseKmsKeyId: null,
    manifestFilesS3Key: manifestFilesKey,
    billedSizeBytes: uncompressedBytes,
    itemCount,
    outputFormat: 'DYNAMODB_JSON',
    outputView: view,
    exportType: 'INCREMENTAL_EXPORT',
  };
  const manifestFiles = dataFiles
    .map((file) => `${JSON.stringify({ itemCount: file.items, md5Checksum: file.md5Base64, etag: file.md5Hex, dataFileS3Key: file.key })}\n`)
    .join('');
  const tableDir = path.join(dir, table);
  const manifests = [
    await writeSmallFile(tableDir, `${exportPrefix}/manifest-summary.json`, `${JSON.stringify(summary)}\n`),
    await writeSmallFile(tableDir, manifestFilesKey, manifestFiles),
  ].map((file) => ({ ...file, path: `${table}/${file.path}` }));
  const files: WrittenFile[] = dataFiles.map(({ path: p, bytes, sha256, items: n }) => ({ path: p, bytes, sha256, items: n }));
  return { table, itemCount, layout: 's3', exportId, files: [...manifests, ...files] };
}

// ---- (b) whole-table scan dumps ------------------------------------------------------------------

/** `<dir>/<table>.json` as `aws dynamodb scan --table-name <table>` prints it (4-space indent). */
export async function writeScanDump(dir: string, table: string, items: ItemSource): Promise<WrittenTable> {
  const cursor = new ItemCursor(items);
  const counted = { items: 0 };
  async function* document(): AsyncGenerator<string> {
    const empty = (await cursor.peek()) === undefined;
    yield empty ? '{\n    "Items": [],\n' : '{\n    "Items": [\n';
    yield* linesOf(cursor, Number.POSITIVE_INFINITY, (item, position) => {
      const body = JSON.stringify(toDynamoDbJson(item), null, 4).replaceAll('\n', '\n        ');
      return `${position === 0 ? '' : ',\n'}        ${body}`;
    }, counted);
    if (!empty) yield '\n    ],\n';
    yield `    "Count": ${counted.items},\n    "ScannedCount": ${counted.items},\n    "ConsumedCapacity": null\n}\n`;
  }
  const relative = `${table}.json`;
  const digest = await writeStream(path.join(dir, relative), document(), false);
  return { table, itemCount: counted.items, files: [{ path: relative, bytes: digest.bytes, sha256: digest.sha256, items: counted.items }] };
}

export async function writeScanDumps(
  dir: string,
  tables: readonly { table: string; items: ItemSource }[],
  createdAt: Date = new Date(),
): Promise<SourceManifest> {
  const written: WrittenTable[] = [];
  for (const { table, items } of tables) written.push(await writeScanDump(dir, table, items));
  return writeManifest(dir, 'dynamodb-scan', createdAt, ...manifestOf(written));
}

// ---- (c) kv_store rows ---------------------------------------------------------------------------

/**
 * kv_store rows as JSON lines, `{"key":"<prefix>:<Id>","value":{…}}`: the value is plain JSON
 * with numbers digit for digit, binary as base64 and sets as arrays (what a jsonb column holds).
 */
export async function writeKvStore(
  dir: string,
  fileName: string,
  tables: readonly { prefix: string; items: ItemSource }[],
  createdAt: Date = new Date(),
): Promise<SourceManifest> {
  const counts = new Map<string, number>();
  async function* lines(): AsyncGenerator<string> {
    for (const { prefix, items } of tables) {
      const counted = { items: 0 };
      yield* linesOf(new ItemCursor(items), Number.POSITIVE_INFINITY, (item) => kvLine(prefix, item), counted);
      counts.set(prefix, (counts.get(prefix) ?? 0) + counted.items);
    }
  }
  const digest = await writeStream(path.join(dir, fileName), lines(), false);
  const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
  const tablesByPrefix = Object.fromEntries([...counts].map(([prefix, itemCount]) => [prefix, { itemCount }]));
  return writeManifest(dir, 'kv-store', createdAt, tablesByPrefix, [
    { path: fileName, bytes: digest.bytes, sha256: digest.sha256, items: total },
  ]);
}

export function kvLine(prefix: string, item: AttributeMap): string {
  const id = item.Id?.S;
  if (id === undefined) throw new MigrateError('INTERNAL', `a ${prefix} item has no string Id: it cannot be a kv_store key`);
  return `{"key":${JSON.stringify(`${prefix}:${id}`)},"value":${toJsonText(fromAttributeMap(item))}}\n`;
}

// ---- manifests -----------------------------------------------------------------------------------

async function writeManifest(
  dir: string,
  format: SourceManifest['format'],
  createdAt: Date,
  tables: SourceManifest['tables'],
  files: WrittenFile[],
): Promise<SourceManifest> {
  const manifest: SourceManifest = { format, createdAt: createdAt.toISOString(), tables, files };
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function manifestOf(written: readonly WrittenTable[]): [SourceManifest['tables'], WrittenFile[]] {
  const tables: SourceManifest['tables'] = {};
  for (const { table, itemCount, layout, exportId } of written) {
    tables[table] = { itemCount, ...(layout ? { layout } : {}), ...(exportId ? { exportId } : {}) };
  }
  return [tables, written.flatMap((table) => table.files)];
}

/** A data file's name as DynamoDB picks them (26 base32 characters), derived from the export id. */
function dataFileName(exportId: string, part: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const hash = createHash('sha256').update(`${exportId}/${part}`).digest();
  let name = '';
  for (let i = 0; i < 26; i++) name += alphabet[hash[i]! % 32];
  return name;
}

function uuidFromHash(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
