import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExportSource } from '../../src/extract/export-source.js';
import { MigrateError } from '../../src/errors.js';
import type { LegacyEntity } from '../../src/model/entities.js';
import type { LegacyItem } from '../../src/model/legacy-value.js';
import { unreadableProblemOf } from '../../src/model/unreadable.js';
import { caseDirectories, exportLine, exportLines, failureOf, writeFlatDirectory, writeJsonLines, writeManifest, writeS3Export, writeScanDump } from './export-files.js';
import { buildItems, ids, partitionsEndWithDone, readPages, sortedById } from './legacy-items.js';

const ENTITY: LegacyEntity = 'KpiActual';
let root: string;
const freshDir = caseDirectories(() => root, ENTITY);

/** Reads until the source throws; returns what was yielded before and the error. */
async function readUntilFailure(source: ReturnType<typeof createExportSource>, entity: LegacyEntity) {
  const items: LegacyItem[] = [];
  const pages: { partition: string; position: unknown; done: boolean; count: number }[] = [];
  let error: unknown;
  try {
    for await (const page of source.readTable(entity)) {
      items.push(...page.items);
      pages.push({ partition: page.partition, position: page.position, done: page.done, count: page.items.length });
    }
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(MigrateError);
  return { items, pages, error: error as MigrateError };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kpi-extract-export-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('export source: layouts', () => {
  const items = buildItems(500, { typed: true });

  it.each([
    ['flat directory of .json.gz', (dir: string, table: string) => writeFlatDirectory(dir, table, items, { files: 4 })],
    ['flat directory of plain .json', (dir: string, table: string) => writeFlatDirectory(dir, table, items, { files: 2, gzip: false })],
    ['<table>.jsonl', (dir: string, table: string) => writeJsonLines(dir, table, items)],
    ['<table>.jsonl.gz', (dir: string, table: string) => writeJsonLines(dir, table, items, true)],
    ['Export-to-S3 layout', (dir: string, table: string) => writeS3Export(dir, table, items, { files: 3 })],
    ['Export-to-S3 layout with an S3 prefix', (dir: string, table: string) => writeS3Export(dir, table, items, { files: 2, s3Prefix: 'exports/prod' })],
    ['aws dynamodb scan dump', (dir: string, table: string) => writeScanDump(dir, table, items)],
  ])('%s: every item exactly once, in pages, each partition ending done', async (_name, write) => {
    const { dir, tableNames, table } = await freshDir();
    await write(dir, table);
    const source = createExportSource({ dir, tableNames, pageSize: 64 });
    const { pages, items: read } = await readPages(source, ENTITY);
    expect(read).toHaveLength(items.length);
    expect(sortedById(read)).toEqual(sortedById(items));
    expect(pages.every((p) => p.items.length <= 64)).toBe(true);
    expect(partitionsEndWithDone(pages)).toBe(true);
    expect(pages.every((p) => p.entity === ENTITY && !p.partition.startsWith('/'))).toBe(true);
    expect(await source.countItems(ENTITY)).toBe(items.length);
    const wanted = [String(items[3]!.Id), 'no-such-id', String(items[499]!.Id)];
    expect(sortedById(await source.getItems(ENTITY, wanted))).toEqual(sortedById([items[3]!, items[499]!]));
  });

  it('reads files in name order, one partition per file, named relative to the directory', async () => {
    const { dir, tableNames, table } = await freshDir();
    await writeFlatDirectory(dir, table, items, { files: 3 });
    const { pages } = await readPages(createExportSource({ dir, tableNames, pageSize: 1000 }), ENTITY);
    expect(pages.map((p) => p.partition)).toEqual([`${table}/part-0000.json.gz`, `${table}/part-0001.json.gz`, `${table}/part-0002.json.gz`]);
    expect(ids(pages.flatMap((p) => p.items))).toEqual(ids(items));
  });

  it('reads CRLF line ends and skips blank lines (they count as lines, not items)', async () => {
    const { dir, tableNames, table } = await freshDir();
    const text = items.slice(0, 20).map((item, i) => `${exportLine(item)}\r\n${i % 5 === 0 ? '\r\n  \r\n' : ''}`).join('');
    await writeFile(join(dir, `${table}.jsonl`), text);
    const source = createExportSource({ dir, tableNames, pageSize: 7 });
    const first = await readPages(source, ENTITY, { maxPages: 1 });
    const rest = await readPages(source, ENTITY, { from: first.state });
    expect(ids([...first.items, ...rest.items])).toEqual(ids(items.slice(0, 20)));
    expect(await source.countItems(ENTITY)).toBe(20);
  });

  it('a missing table is SOURCE_UNAVAILABLE naming where it looked, unless missing tables are allowed', async () => {
    const { dir, tableNames, table } = await freshDir();
    const strict = await failureOf(readPages(createExportSource({ dir, tableNames }), ENTITY));
    expect(strict.code).toBe('SOURCE_UNAVAILABLE');
    expect(strict.message).toContain(join(dir, `${table}.jsonl[.gz]`));
    expect(strict.message).toContain(join(dir, table, 'AWSDynamoDB'));

    const lenient = createExportSource({ dir, tableNames, allowMissingTables: true });
    const { pages } = await readPages(lenient, ENTITY);
    expect(pages).toEqual([{ entity: ENTITY, partition: table, items: [], position: null, done: true }]);
    expect(await lenient.countItems(ENTITY)).toBe(0);
    expect(await lenient.getItems(ENTITY, [String(items[0]!.Id)])).toEqual([]);
  });

  it('a table found in two layouts at once is refused rather than guessed', async () => {
    const { dir, tableNames, table } = await freshDir();
    await writeJsonLines(dir, table, items.slice(0, 5));
    await writeFlatDirectory(dir, table, items.slice(5, 10), { files: 1 });
    const error = await failureOf(readPages(createExportSource({ dir, tableNames }), ENTITY));
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.message).toContain('more than one place');
  });

  it('a table directory with entries that are not export data is refused, not half read', async () => {
    const { dir, tableNames, table } = await freshDir();
    await writeFlatDirectory(dir, table, items.slice(0, 5), { files: 1 });
    await mkdir(join(dir, table, 'data'));
    await writeFile(join(dir, table, '_SUCCESS'), '');
    const error = await failureOf(readPages(createExportSource({ dir, tableNames }), ENTITY));
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.message).toContain(': data');
  });

  it('an empty flat directory is an empty table: one done page', async () => {
    const { dir, tableNames, table } = await freshDir();
    await mkdir(join(dir, table));
    const { pages } = await readPages(createExportSource({ dir, tableNames }), ENTITY);
    expect(pages).toEqual([{ entity: ENTITY, partition: table, items: [], position: null, done: true }]);
  });
});

describe('export source: items by key', () => {
  it('finds by key what reading the table finds, whatever form a line is in (lines not wanted are passed over unparsed)', async () => {
    const { dir, tableNames, table } = await freshDir();
    const id = (n: number) => `dddddddd-0000-4000-8000-${String(n).padStart(12, '0')}`;
    const lines = [
      `{"Item":{"Id":{"S":"${id(1)}"},"Value":{"N":"1"}}}`,
      `{"Item": {"Id": {"S": "${id(2)}"}}}`,
      `{"Item":{"Id":{"S":"\\u0064ddddddd-0000-4000-8000-000000000003"}}}`,
      `{"Item":{"Id":{"S":"${id(4)}"},"Id":{"S":"${id(5)}"}}}`,
      `{"Item":{"Id":{"S":"${id(6)}"},"Id":{"N":"6"}}}`,
      `{"Item":{"Id":{"N":"7"},"Id":{"S":"${id(7)}"}}}`,
      `{"Item":{"Id":{"S":"${id(8)}","N":"8"}}}`,
      `{"Item":{"Id":{"S":"${id(9)}"},"Blob":{"B":"not base64!"}}}`,
      `{"Item":{"Id":{"S":"${id(10)}"},"Broken":}}`,
      `{"Item":{"Id":{"BOOL":true}}}`,
      `{"Item":{"Value":{"S":"${id(11)}"}}}`,
      `{"Item":{"Id":{"M":{"S":{"S":"${id(12)}"}}}}}`,
      `{"Item":{"Id":{"S":"${id(13)}"}}}`,
      `{"Item":{"Id":{"S":"${id(13)}"},"Second":{"BOOL":true}}}`,
      `{"Item":{"Id":{"S":"${id(14)}}}}`,
      `{"Item":{"Id":{"S":"${id(15)}"},"Note":{"S":"a \\"quoted\\" word"}}}`,
      `{"Item" : { "Id" : { "N" : "1", "S" : "${id(16)}" } } }`,
      `{"Item":{"Name":{"S":"Id"},"Id":{"S":"${id(17)}"}}}`,
      `{"Item":{"Id":{"S":"${id(18)}","S":"other"}}}`,
      `{"Item":{"Extra":{"M":{"Id":{"S":"${id(19)}"}}}}}`,
      `{"Item":{"Extra":{"M":{"Id":{"S":"nested"}}},"Id":{"S":"${id(20)}"}}}`,
    ];
    await writeFile(join(dir, `${table}.jsonl`), `${lines.join('\n')}\n`);
    const source = createExportSource({ dir, tableNames, pageSize: 4 });
    const all = (await readPages(source, ENTITY)).items;
    // `other` is the Id of a line whose Id object names S twice (JSON.parse keeps the last).
    const wanted = [...Array.from({ length: 21 }, (_, n) => id(n)), 'no-such-id', 'other'];
    const firstOf = (key: string) => all.find((item) => item.Id === key);
    const expected = wanted.flatMap((key) => (firstOf(key) === undefined ? [] : [firstOf(key)!]));
    expect(expected.map((item) => item.Id)).toEqual([id(1), id(2), id(3), id(5), id(7), id(8), id(9), id(13), id(15), id(16), id(17), id(20), 'other']);
    const found = await source.getItems(ENTITY, wanted);
    expect(found).toEqual(expected);
    expect(found.map((item) => unreadableProblemOf(item)?.attribute)).toEqual(expected.map((item) => unreadableProblemOf(item)?.attribute));
    expect(found.find((item) => item.Id === id(13))).toEqual({ Id: id(13) });
    // The recount and the read by key in one read of the file: the same items, and every line counted.
    const both = await source.countAndGetItems!(ENTITY, wanted);
    expect(both.items).toEqual(expected);
    expect(both.count).toBe(all.length);
    expect(both.count).toBe(await source.countItems(ENTITY));
    expect(await source.countAndGetItems!(ENTITY, [])).toEqual({ count: all.length, items: [] });
    // By a condition on the Id instead of a list: the first item of each Id it says yes to, in the file's order.
    for (const accepted of [new Set(wanted), new Set(wanted.filter((_, n) => n % 3 !== 1)), new Set<string>()]) {
      const where = await source.countAndGetItemsWhere!(ENTITY, (key) => accepted.has(key));
      expect(where.count).toBe(all.length);
      const inFileOrder = all.filter((item, at) => typeof item.Id === 'string' && accepted.has(item.Id) && all.findIndex((other) => other.Id === item.Id) === at);
      expect(where.items).toEqual(inFileOrder);
    }
    // Values are asked about (an Id is one), never a name or a type, which no Id can be.
    const asked = new Set<string>();
    await source.countAndGetItemsWhere!(ENTITY, (key) => (asked.add(key), false));
    for (const name of ['Item', 'S', 'N', 'M', 'Value', 'Extra', 'Note', 'Name']) expect(asked.has(name)).toBe(false);
    for (const item of all) if (typeof item.Id === 'string') expect(asked.has(item.Id)).toBe(true);
  });

  it('reads a recount and items by key in one pass over a scan dump as over lines', async () => {
    const { dir, tableNames, table } = await freshDir();
    const items = buildItems(120, { salt: 9 });
    await writeScanDump(dir, table, items);
    const source = createExportSource({ dir, tableNames, pageSize: 25 });
    const wanted = [String(items[7]!.Id), String(items[119]!.Id), 'no-such-id'];
    const both = await source.countAndGetItems!(ENTITY, wanted);
    expect(both.count).toBe(120);
    expect(both.items).toEqual(await source.getItems(ENTITY, wanted));
    expect(ids(both.items)).toEqual([items[7]!.Id, items[119]!.Id]);
  });
});

describe('export source: resume', () => {
  const items = buildItems(900, { salt: 2 });

  it.each([
    ['flat directory', (dir: string, table: string) => writeFlatDirectory(dir, table, items, { files: 4 })],
    ['Export-to-S3 layout', (dir: string, table: string) => writeS3Export(dir, table, items, { files: 3 })],
    ['scan dump', (dir: string, table: string) => writeScanDump(dir, table, items)],
  ])('%s: interrupted after k pages and resumed from the committed positions reads every item exactly once', async (_name, write) => {
    const { dir, tableNames, table } = await freshDir();
    await write(dir, table);
    const source = createExportSource({ dir, tableNames, pageSize: 50 });
    for (const k of [1, 5, 6, 11]) {
      const first = await readPages(source, ENTITY, { maxPages: k });
      const second = await readPages(source, ENTITY, { from: first.state, maxPages: 3 });
      const third = await readPages(source, ENTITY, { from: second.state });
      const all = [...first.items, ...second.items, ...third.items];
      expect(all).toHaveLength(items.length);
      expect(new Set(ids(all)).size).toBe(items.length);
      expect(sortedById(all)).toEqual(sortedById(items));
      expect(Object.values(third.state).every((s) => s.done)).toBe(true);
      // A finished table resumed again reads nothing.
      expect((await readPages(source, ENTITY, { from: third.state })).items).toEqual([]);
    }
  });

  it('refuses a resume state naming a file the export no longer has', async () => {
    const { dir, tableNames, table } = await freshDir();
    await writeFlatDirectory(dir, table, items, { files: 2 });
    const source = createExportSource({ dir, tableNames });
    const error = await failureOf(readPages(source, ENTITY, { from: { [`${table}/gone.json.gz`]: { position: { line: 3 }, done: false } } }));
    // The source changed, not the command: exit 3, the same command goes on once the file is back.
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toMatch(/gone\.json\.gz, which is no longer among the files/);
  });
});

describe('export source: corrupt files', () => {
  const items = buildItems(300, { salt: 3 });

  it('a file whose item count differs from manifest-files.json is SOURCE_CORRUPT naming it, after the files before it', async () => {
    const { dir, tableNames, table } = await freshDir();
    const written = await writeS3Export(dir, table, items, { files: 3 });
    // Files are read in name order; the manifest claims one item more in the second and one fewer in the third.
    const order = written.files.map((f, i) => ({ ...f, chunk: i })).sort((a, b) => (a.partition < b.partition ? -1 : 1));
    const skew = new Map([[order[1]!.chunk, 1], [order[2]!.chunk, -1]]);
    await writeManifest(written.manifestPath, written.files.map((f, i) => ({ ...f, itemCount: f.itemCount + (skew.get(i) ?? 0) })), written.exportId);
    const source = createExportSource({ dir, tableNames, pageSize: 40 });
    const { items: read, error } = await readUntilFailure(source, ENTITY);
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toContain(order[1]!.path);
    expect(error.message).toContain('itemCount 101');
    expect(error.details.file).toBe(order[1]!.partition);
    // Nothing read before the failure is lost: the first two files' items all came out.
    const chunkItems = (c: number) => items.slice(c * 100, (c + 1) * 100);
    expect(ids(read)).toEqual(ids([...chunkItems(order[0]!.chunk), ...chunkItems(order[1]!.chunk)]));
    expect((await failureOf(source.countItems(ENTITY))).code).toBe('SOURCE_CORRUPT');
    expect((await failureOf(source.countAndGetItems!(ENTITY, [String(items[0]!.Id)]))).code).toBe('SOURCE_CORRUPT');
  });

  it('a summary itemCount that disagrees with the manifest is SOURCE_CORRUPT before anything is read', async () => {
    const { dir, tableNames, table } = await freshDir();
    const written = await writeS3Export(dir, table, items, { files: 2 });
    const summary = JSON.parse(await readFile(written.summaryPath, 'utf8')) as Record<string, unknown>;
    await writeFile(written.summaryPath, JSON.stringify({ ...summary, itemCount: 299 }));
    const { items: read, error } = await readUntilFailure(createExportSource({ dir, tableNames }), ENTITY);
    expect(read).toEqual([]);
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toContain('299');
  });

  it('an MD5 that disagrees with manifest-files.json is SOURCE_CORRUPT naming the file', async () => {
    const { dir, tableNames, table } = await freshDir();
    const written = await writeS3Export(dir, table, items, { files: 3 });
    // Same items, stored bytes re-compressed differently: the count agrees, the checksum does not.
    const third = [...written.files].sort((a, b) => (a.partition < b.partition ? -1 : 1))[2]!;
    await writeFile(third.path, gzipSync(gunzipSync(await readFile(third.path)), { level: 1 }));
    const { items: read, error } = await readUntilFailure(createExportSource({ dir, tableNames, pageSize: 1000 }), ENTITY);
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toContain(third.path);
    expect(error.message).toContain('md5Checksum');
    expect(sortedById(read)).toEqual(sortedById(items));
  });

  it('a line that is not an item is an unreadable item in its place, keeping the line; the file reads on, and resumes past it', async () => {
    const { dir, tableNames, table } = await freshDir();
    const lines = exportLines(items).split('\n');
    lines[156] = '{"Item": {"Id": {"S": "broken"}, "Bad": {"Q": 1}}}';
    lines[157] = '{"Item": {"Id": {"S": "trunc';
    await mkdir(join(dir, table));
    await writeFile(join(dir, table, 'a.json.gz'), gzipSync(exportLines(items.slice(0, 10))));
    await writeFile(join(dir, table, 'b.json.gz'), gzipSync(lines.join('\n')));
    const source = createExportSource({ dir, tableNames, pageSize: 25 });
    const { items: read, pages } = await readPages(source, ENTITY);
    expect(partitionsEndWithDone(pages)).toBe(true);
    expect(read).toHaveLength(10 + items.length);
    expect(ids([...read.slice(0, 166), ...read.slice(168)])).toEqual(ids([...items.slice(0, 10), ...items.slice(0, 156), ...items.slice(158)]));
    expect(read.slice(166, 168)).toEqual([{ Id: 'broken', line: lines[156] }, { line: lines[157] }]);
    expect(read.map((item) => unreadableProblemOf(item)).filter((problem) => problem !== undefined)).toEqual([
      { attribute: 'Bad', message: `line 157 of ${table}/b.json.gz is not a DynamoDB JSON item: not a DynamoDB attribute value: ["Q"]` },
      // JSON.parse's own words, which differ between Node versions.
      { attribute: 'Item', message: expect.stringMatching(new RegExp(`^line 158 of ${table}/b\\.json\\.gz is not a DynamoDB JSON item: not JSON \\(Unterminated string in JSON at position 2\\d.*\\)$`)) },
    ]);
    expect(await source.countItems(ENTITY)).toBe(read.length);

    const state = { [`${table}/a.json.gz`]: { position: null, done: true }, [`${table}/b.json.gz`]: { position: { line: 157 }, done: false } };
    const resumed = await readPages(source, ENTITY, { from: state });
    expect(resumed.items[0]).toEqual({ line: lines[157] });
    expect(ids(resumed.items.slice(1))).toEqual(ids(items.slice(158)));
  });

  it('a line of bytes that are not UTF-8 is SOURCE_CORRUPT with file and line number, after the items before it; resuming meets it again', async () => {
    const { dir, tableNames, table } = await freshDir();
    const lines = exportLines(items).split('\n').map((line) => Buffer.from(line));
    lines[156] = Buffer.concat([Buffer.from('{"Item": {"Id": {"S": "caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}}')]);
    await mkdir(join(dir, table));
    await writeFile(join(dir, table, 'a.json.gz'), gzipSync(exportLines(items.slice(0, 10))));
    await writeFile(join(dir, table, 'b.json.gz'), gzipSync(Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')]))));
    const source = createExportSource({ dir, tableNames, pageSize: 25 });
    const { items: read, pages, error } = await readUntilFailure(source, ENTITY);
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toContain(join(dir, table, 'b.json.gz'));
    expect(error.message).toContain('line 157 is not valid UTF-8');
    expect(error.details).toMatchObject({ file: `${table}/b.json.gz`, line: 157 });
    // The items handed over are those before the bad line, in order, each with the position after it.
    expect(ids(read)).toEqual(ids([...items.slice(0, 10), ...items.slice(0, read.length - 10)]));
    expect(read.length).toBeLessThanOrEqual(10 + 156);
    const last = pages.at(-1)!;
    expect(last).toMatchObject({ partition: `${table}/b.json.gz`, position: { line: read.length - 10 }, done: false });

    const state = { [`${table}/a.json.gz`]: { position: null, done: true }, [`${table}/b.json.gz`]: { position: last.position as { line: number }, done: false } };
    const again = await failureOf(readPages(source, ENTITY, { from: state }));
    expect(again.message).toContain('line 157 is not valid UTF-8');
  });

  it('a truncated .gz is SOURCE_CORRUPT naming the file, after the items before the cut', async () => {
    const { dir, tableNames, table } = await freshDir();
    const bytes = gzipSync(exportLines(items));
    await writeFile(join(dir, `${table}.jsonl.gz`), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const { items: read, error } = await readUntilFailure(createExportSource({ dir, tableNames, pageSize: 30 }), ENTITY);
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toContain(`${table}.jsonl.gz`);
    expect(read.length).toBeGreaterThan(0);
    expect(read.length).toBeLessThan(items.length);
    expect(ids(read)).toEqual(ids(items.slice(0, read.length)));
  });

  it('a scan dump is streamed: a dump cut in the middle still yields the items before the cut', async () => {
    const { dir, tableNames, table } = await freshDir();
    const path = await writeScanDump(dir, table, items);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, Math.floor(text.length * 0.7)));
    const { items: read, error } = await readUntilFailure(createExportSource({ dir, tableNames, pageSize: 20 }), ENTITY);
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toContain(path);
    expect(read.length).toBeGreaterThan(100);
    expect(sortedById(read)).toEqual(sortedById(items.slice(0, read.length)));
  });

  it('a scan dump whose Count disagrees with its Items is SOURCE_CORRUPT', async () => {
    const { dir, tableNames, table } = await freshDir();
    await writeScanDump(dir, table, items, items.length + 1);
    const { items: read, error } = await readUntilFailure(createExportSource({ dir, tableNames, pageSize: 1000 }), ENTITY);
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toContain(`says ${items.length + 1}`);
    expect(read).toHaveLength(items.length);
  });
});
