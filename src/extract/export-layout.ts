import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { MigrateError } from '../errors.js';

/** One file of a table's export, in reading order. */
export interface ExportDataFile {
  /** Absolute (or `dir`-based) path to open. */
  path: string;
  /** The path relative to the export directory, with `/`: the partition name. */
  partition: string;
  /**
   * `lines`: one `{"Item": …}` per line. `sniff`: a `.json[.gz]` that may be lines or one
   * `aws dynamodb scan` document (`{"Items": […]}`); its first bytes tell when it is opened.
   */
  format: 'lines' | 'sniff';
  gzip: boolean;
  /** From manifest-files.json, when the table came in Export-to-S3 layout. */
  manifest?: { itemCount: number; md5Checksum: string };
}

export interface TableExport {
  table: string;
  /** What was found, for messages: `export <id>`, `flat directory`, `<table>.jsonl.gz`, … */
  layout: string;
  files: ExportDataFile[];
  /** manifest-summary.json's itemCount, already checked against the per-file counts. */
  expectedItems?: number;
  /** The export's id (its folder under AWSDynamoDB/), in Export-to-S3 layout. */
  exportId?: string;
  /** A full export's `exportTime`: the point its incremental exports continue from. */
  exportTime?: string;
}

/** Where a table's files were looked for, for the message when none were found. */
export function candidatePaths(dir: string, table: string): string[] {
  return [
    join(dir, table, 'AWSDynamoDB', '<export-id>', 'manifest-summary.json'),
    join(dir, table, '*.json[.gz]'),
    join(dir, `${table}.jsonl[.gz]`),
    join(dir, `${table}.json[.gz]`),
  ];
}

const DATA_FILE = /\.(json|jsonl)(\.gz)?$/;

/** Byte order, not locale order: the reading order must not depend on the machine. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function kindOf(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MigrateError('SOURCE_UNAVAILABLE', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function partitionOf(dir: string, path: string): string {
  return relative(dir, path).split(sep).join('/');
}

function dataFile(dir: string, path: string, manifest?: ExportDataFile['manifest']): ExportDataFile {
  const gzip = path.endsWith('.gz');
  const format = /\.jsonl(\.gz)?$/.test(path) ? 'lines' : 'sniff';
  return { path, partition: partitionOf(dir, path), format, gzip, ...(manifest ? { manifest } : {}) };
}

function corrupt(message: string, file: string, cause?: unknown): MigrateError {
  return new MigrateError('SOURCE_CORRUPT', message, { ...(cause === undefined ? {} : { cause }), details: { file } });
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw corrupt(`${what} ${path} cannot be read: ${(error as Error).message}`, path, error);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw corrupt(`${what} ${path} is not valid JSON: ${(error as Error).message}`, path, error);
  }
}

/** An S3 key below the export's own prefix (whatever S3Prefix the export was made with), as a local path. */
function localPath(tableDir: string, s3Key: string, manifestPath: string): string {
  const at = s3Key.indexOf('AWSDynamoDB/');
  const rel = at >= 0 ? s3Key.slice(at) : s3Key;
  if (rel.split('/').some((part) => part === '..' || part === '')) {
    throw corrupt(`${manifestPath} names a file outside the export: ${s3Key}`, manifestPath);
  }
  return join(tableDir, ...rel.split('/'));
}

/** One export found under `<table>/AWSDynamoDB/`, its summary checked. */
export interface S3ExportSummary {
  id: string;
  summaryPath: string;
  /** `full`: exportType absent or FULL_EXPORT; `incremental`: INCREMENTAL_EXPORT. */
  kind: 'full' | 'incremental';
  itemCount: number;
  /** A full export's point in time (ISO-8601, as the summary spells it). */
  exportTime?: string;
  /** An incremental export's window: the changes made from `exportFromTime` up to `exportToTime`. */
  exportFromTime?: string;
  exportToTime?: string;
  /** An incremental export's view: NEW_AND_OLD_IMAGES or NEW_IMAGE. */
  outputView?: string;
  /** Where manifest-files.json is, locally. */
  manifestPath: string;
}

const OUTPUT_VIEWS = ['NEW_AND_OLD_IMAGES', 'NEW_IMAGE'];

/** An ISO-8601 instant with its zone, as export summaries write them; anything else is not a point in time. */
function isInstant(value: unknown): value is string {
  return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) && !Number.isNaN(Date.parse(value));
}

async function readSummary(tableDir: string, id: string): Promise<S3ExportSummary> {
  const exportDir = join(tableDir, 'AWSDynamoDB', id);
  const summaryPath = join(exportDir, 'manifest-summary.json');
  const summary = (await readJson(summaryPath, 'export summary')) as Record<string, unknown>;
  if (typeof summary !== 'object' || summary === null || Array.isArray(summary)) throw corrupt(`${summaryPath} is not a JSON object`, summaryPath);
  if (summary.outputFormat !== undefined && summary.outputFormat !== 'DYNAMODB_JSON') {
    throw new MigrateError('SOURCE_UNAVAILABLE', `${summaryPath}: outputFormat ${String(summary.outputFormat)} is not supported (use DYNAMODB_JSON)`);
  }
  const kind = summary.exportType === undefined || summary.exportType === 'FULL_EXPORT' ? 'full' : summary.exportType === 'INCREMENTAL_EXPORT' ? 'incremental' : undefined;
  if (kind === undefined) {
    throw new MigrateError('SOURCE_UNAVAILABLE', `${summaryPath}: exportType ${String(summary.exportType)} is not supported (FULL_EXPORT or INCREMENTAL_EXPORT)`);
  }
  const itemCount = summary.itemCount;
  if (typeof itemCount !== 'number' || !Number.isInteger(itemCount) || itemCount < 0) {
    throw corrupt(`${summaryPath} has no valid itemCount`, summaryPath);
  }
  const manifestPath =
    typeof summary.manifestFilesS3Key === 'string'
      ? localPath(tableDir, summary.manifestFilesS3Key, summaryPath)
      : join(exportDir, 'manifest-files.json');
  const found: S3ExportSummary = { id, summaryPath, kind, itemCount, manifestPath };
  if (kind === 'full') {
    if (summary.exportTime !== undefined) {
      if (!isInstant(summary.exportTime)) throw corrupt(`${summaryPath}: exportTime ${JSON.stringify(summary.exportTime)} is not an ISO-8601 time`, summaryPath);
      found.exportTime = summary.exportTime;
    }
    return found;
  }
  const { exportFromTime, exportToTime, outputView } = summary;
  if (!isInstant(exportFromTime) || !isInstant(exportToTime)) {
    throw corrupt(`${summaryPath}: an incremental export needs exportFromTime and exportToTime as ISO-8601 times (found ${JSON.stringify(exportFromTime)}, ${JSON.stringify(exportToTime)})`, summaryPath);
  }
  if (Date.parse(exportFromTime) >= Date.parse(exportToTime)) {
    throw corrupt(`${summaryPath}: exportFromTime ${exportFromTime} is not before exportToTime ${exportToTime}`, summaryPath);
  }
  if (typeof outputView !== 'string' || !OUTPUT_VIEWS.includes(outputView)) {
    throw new MigrateError('SOURCE_UNAVAILABLE', `${summaryPath}: outputView ${JSON.stringify(outputView)} is not supported (${OUTPUT_VIEWS.join(' or ')})`);
  }
  return { ...found, exportFromTime, exportToTime, outputView };
}

/** Every finished export of a table (a folder with manifest-summary.json), by id. */
export async function listS3Exports(dir: string, table: string): Promise<S3ExportSummary[]> {
  const tableDir = join(dir, table);
  const exportsDir = join(tableDir, 'AWSDynamoDB');
  const ids: string[] = [];
  for (const entry of (await readdir(exportsDir, { withFileTypes: true })).sort((a, b) => byName(a.name, b.name))) {
    if (entry.isDirectory() && (await kindOf(join(exportsDir, entry.name, 'manifest-summary.json'))) === 'file') ids.push(entry.name);
  }
  const summaries: S3ExportSummary[] = [];
  for (const id of ids) summaries.push(await readSummary(tableDir, id));
  return summaries;
}

/** The data files manifest-files.json lists, each checked to be there; their counts must add up to the summary's. */
export async function exportDataFiles(dir: string, table: string, summary: S3ExportSummary): Promise<ExportDataFile[]> {
  const tableDir = join(dir, table);
  const { manifestPath, summaryPath } = summary;
  let manifestText: string;
  try {
    manifestText = await readFile(manifestPath, 'utf8');
  } catch (error) {
    throw corrupt(`export manifest ${manifestPath} cannot be read: ${(error as Error).message}`, manifestPath, error);
  }
  const files: ExportDataFile[] = [];
  let listed = 0;
  const lines = manifestText.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch (error) {
      throw corrupt(`${manifestPath} line ${index + 1} is not valid JSON`, manifestPath, error);
    }
    const { itemCount, md5Checksum, dataFileS3Key } = entry ?? {};
    if (typeof itemCount !== 'number' || !Number.isInteger(itemCount) || itemCount < 0 || typeof md5Checksum !== 'string' || typeof dataFileS3Key !== 'string') {
      throw corrupt(`${manifestPath} line ${index + 1} lacks itemCount, md5Checksum or dataFileS3Key`, manifestPath);
    }
    const path = localPath(tableDir, dataFileS3Key, manifestPath);
    if ((await kindOf(path)) !== 'file') throw corrupt(`export data file ${path} listed in ${manifestPath} is missing`, path);
    listed += itemCount;
    // Export files are lines whatever their extension (`.json.gz`).
    files.push({ ...dataFile(dir, path, { itemCount, md5Checksum }), format: 'lines' });
  }
  if (listed !== summary.itemCount) {
    throw corrupt(`${manifestPath} lists ${listed} items in all but ${summaryPath} says itemCount ${summary.itemCount}`, manifestPath);
  }
  files.sort((a, b) => byName(a.partition, b.partition));
  return files;
}

/**
 * The table's full export. Its incremental exports beside it are left to `sync`. Two full
 * exports are refused: which point in time is meant is the operator's choice, not the tool's.
 */
async function readS3Export(dir: string, table: string): Promise<TableExport> {
  const exportsDir = join(dir, table, 'AWSDynamoDB');
  const all = await listS3Exports(dir, table);
  if (all.length === 0) {
    throw corrupt(`${exportsDir} holds no finished export (no <export-id>/manifest-summary.json)`, exportsDir);
  }
  const full = all.filter((s) => s.kind === 'full');
  if (full.length === 0) {
    throw new MigrateError(
      'SOURCE_UNAVAILABLE',
      `${exportsDir} holds only incremental exports (${all.map((s) => s.id).join(', ')}); a run needs the table's full export (its incremental exports are for \`sync --source export\`)`,
    );
  }
  if (full.length > 1) {
    throw new MigrateError(
      'SOURCE_UNAVAILABLE',
      `${exportsDir} holds ${full.length} full exports (${full.map((s) => s.id).join(', ')}); keep only the one to migrate`,
    );
  }
  const summary = full[0]!;
  const files = await exportDataFiles(dir, table, summary);
  return {
    table,
    layout: `export ${summary.id}`,
    files,
    expectedItems: summary.itemCount,
    exportId: summary.id,
    ...(summary.exportTime === undefined ? {} : { exportTime: summary.exportTime }),
  };
}

/**
 * Finds a table's files: Export-to-S3 layout, a flat directory, `<table>.jsonl[.gz]`, or a
 * `<table>.json[.gz]` scan dump. Exactly one of them must be there; `undefined` if none is.
 */
export async function findTableExport(dir: string, table: string): Promise<TableExport | undefined> {
  const found: TableExport[] = [];
  const tableDir = join(dir, table);
  if ((await kindOf(tableDir)) === 'dir') {
    const entries = await readdir(tableDir, { withFileTypes: true });
    const flat = entries.filter((e) => e.isFile() && DATA_FILE.test(e.name)).map((e) => e.name).sort(byName);
    const isExport = (e: Dirent) => e.isDirectory() && e.name === 'AWSDynamoDB';
    // Dotfiles and `_SUCCESS`-style markers are noise; anything else unread could be data lost without a word.
    const unknown = entries.filter((e) => !isExport(e) && !flat.includes(e.name) && !/^[._]/.test(e.name)).map((e) => e.name);
    if (unknown.length > 0) {
      throw new MigrateError(
        'SOURCE_UNAVAILABLE',
        `${tableDir} holds entries that are not export data (*.json[.gz], *.jsonl[.gz] or AWSDynamoDB/): ${unknown.sort(byName).join(', ')}`,
      );
    }
    if (entries.some(isExport)) found.push(await readS3Export(dir, table));
    if (flat.length > 0 || found.length === 0) {
      found.push({ table, layout: `directory ${tableDir}`, files: flat.map((name) => dataFile(dir, join(tableDir, name))) });
    }
  }
  for (const name of [`${table}.jsonl`, `${table}.jsonl.gz`, `${table}.json`, `${table}.json.gz`]) {
    const path = join(dir, name);
    if ((await kindOf(path)) === 'file') found.push({ table, layout: `file ${path}`, files: [dataFile(dir, path)] });
  }
  if (found.length > 1) {
    throw new MigrateError(
      'SOURCE_UNAVAILABLE',
      `table ${table} is in more than one place under ${dir}: ${found.map((f) => f.layout).join('; ')}; keep one`,
    );
  }
  return found[0];
}
