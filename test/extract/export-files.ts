import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { LegacyItem } from '../../src/model/legacy-value.js';
import { expect } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { defaultTableNames, type LegacyEntity, type TableNames } from '../../src/model/entities.js';
import { toAttributeMap } from '../../src/extract/dynamodb-json.js';

/** DynamoDB JSON as files carry it: binary as base64 text. */
function jsonAttribute(value: AttributeValue): unknown {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (value.M !== undefined) return { M: jsonAttributeMap(value.M) };
  if (value.L !== undefined) return { L: value.L.map(jsonAttribute) };
  return value;
}

export function jsonAttributeMap(item: Record<string, AttributeValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, jsonAttribute(v)]));
}

export function exportLine(item: LegacyItem): string {
  return JSON.stringify({ Item: jsonAttributeMap(toAttributeMap(item)) });
}

export function exportLines(items: readonly LegacyItem[]): string {
  return items.map((item) => `${exportLine(item)}\n`).join('');
}

export function chunk<T>(items: readonly T[], parts: number): T[][] {
  const size = Math.ceil(items.length / parts);
  return Array.from({ length: parts }, (_, i) => items.slice(i * size, (i + 1) * size));
}

/** `<dir>/<table>/part-000i.json[.gz]`: a flat directory of line files. */
export async function writeFlatDirectory(
  dir: string,
  table: string,
  items: readonly LegacyItem[],
  options: { files?: number; gzip?: boolean } = {},
): Promise<string[]> {
  const tableDir = join(dir, table);
  await mkdir(tableDir, { recursive: true });
  const gzip = options.gzip ?? true;
  const paths: string[] = [];
  for (const [i, part] of chunk(items, options.files ?? 3).entries()) {
    const path = join(tableDir, `part-${String(i).padStart(4, '0')}.json${gzip ? '.gz' : ''}`);
    const text = exportLines(part);
    await writeFile(path, gzip ? gzipSync(text) : text);
    paths.push(path);
  }
  return paths;
}

/** `<dir>/<table>.jsonl[.gz]`. */
export async function writeJsonLines(dir: string, table: string, items: readonly LegacyItem[], gzip = false): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${table}.jsonl${gzip ? '.gz' : ''}`);
  const text = exportLines(items);
  await writeFile(path, gzip ? gzipSync(text) : text);
  return path;
}

/** `<dir>/<table>.json`: one document as `aws dynamodb scan` prints it. */
export async function writeScanDump(dir: string, table: string, items: readonly LegacyItem[], count = items.length): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${table}.json`);
  const document = {
    Items: items.map((item) => jsonAttributeMap(toAttributeMap(item))),
    Count: count,
    ScannedCount: count,
    ConsumedCapacity: null,
  };
  await writeFile(path, JSON.stringify(document, null, 4));
  return path;
}

export interface S3Export {
  exportId: string;
  summaryPath: string;
  manifestPath: string;
  /** Data files in manifest order, with what the manifest says of them. */
  files: { path: string; partition: string; itemCount: number; md5Checksum: string }[];
}

/**
 * The Export-to-S3 layout, as AWS writes it under `<dir>/<table>/`: a summary, a JSON-lines
 * manifest of data files (itemCount, base64 MD5 of the stored .gz, etag, S3 key) and the data.
 * `s3Prefix` is prepended to every key, as AWS does for an export with an S3 prefix.
 */
export async function writeS3Export(
  dir: string,
  table: string,
  items: readonly LegacyItem[],
  options: { files?: number; exportId?: string; s3Prefix?: string } = {},
): Promise<S3Export> {
  const exportId = options.exportId ?? '01700000000000-abcdef12';
  const prefix = options.s3Prefix ? `${options.s3Prefix}/` : '';
  const exportDir = join(dir, table, 'AWSDynamoDB', exportId);
  await mkdir(join(exportDir, 'data'), { recursive: true });
  const files: S3Export['files'] = [];
  for (const [i, part] of chunk(items, options.files ?? 3).entries()) {
    const name = `${createHash('sha1').update(`${exportId}-${i}`).digest('hex').slice(0, 26)}.json.gz`;
    const bytes = gzipSync(exportLines(part));
    const path = join(exportDir, 'data', name);
    await writeFile(path, bytes);
    files.push({
      path,
      partition: `${table}/AWSDynamoDB/${exportId}/data/${name}`,
      itemCount: part.length,
      md5Checksum: createHash('md5').update(bytes).digest('base64'),
    });
  }
  const manifestPath = join(exportDir, 'manifest-files.json');
  await writeManifest(manifestPath, files, exportId, prefix);
  const summaryPath = join(exportDir, 'manifest-summary.json');
  await writeFile(
    summaryPath,
    JSON.stringify({
      version: '2020-06-30',
      exportArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}/export/${exportId}`,
      startTime: '2024-01-01T00:00:00.000Z',
      endTime: '2024-01-01T00:05:00.000Z',
      tableArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}`,
      tableId: '00000000-0000-0000-0000-000000000000',
      exportTime: '2024-01-01T00:00:00.000Z',
      s3Bucket: 'legacy-exports',
      s3Prefix: options.s3Prefix ?? null,
      s3SseAlgorithm: 'AES256',
      s3SseKmsKeyId: null,
      manifestFilesS3Key: `${prefix}AWSDynamoDB/${exportId}/manifest-files.json`,
      billedSizeBytes: 0,
      itemCount: files.reduce((sum, f) => sum + f.itemCount, 0),
      outputFormat: 'DYNAMODB_JSON',
      exportType: 'FULL_EXPORT',
    }),
  );
  return { exportId, summaryPath, manifestPath, files };
}

export async function writeManifest(path: string, files: S3Export['files'], exportId: string, prefix = ''): Promise<void> {
  const lines = files.map((f) => {
    const name = f.path.split(/[\\/]/).pop()!;
    return JSON.stringify({
      itemCount: f.itemCount,
      md5Checksum: f.md5Checksum,
      etag: Buffer.from(f.md5Checksum, 'base64').toString('hex'),
      dataFileS3Key: `${prefix}AWSDynamoDB/${exportId}/data/${name}`,
    });
  });
  await writeFile(path, `${lines.join('\n')}\n`);
}

/** A promise's rejection, which must be a MigrateError. */
export async function failureOf(promise: Promise<unknown>): Promise<MigrateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrateError);
  return error as MigrateError;
}

/** Fresh numbered export directories under `root()`, each with the `legacy-` table names and `entity`'s table. */
export function caseDirectories(root: () => string, entity: LegacyEntity): () => Promise<{ dir: string; tableNames: TableNames; table: string }> {
  let counter = 0;
  return async () => {
    const dir = join(root(), `case-${counter++}`);
    await mkdir(dir, { recursive: true });
    const tableNames = defaultTableNames('legacy-');
    return { dir, tableNames, table: tableNames[entity] };
  };
}
