import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLosslessNumber, parse as parseLossless } from 'lossless-json';
import { toJsonText, type LegacyItem } from '../../src/model/legacy-value.js';
import { fromAttributeMap } from '../../src/extract/dynamodb-json.js';
import { DEFAULT_KV_PREFIX, LEGACY_ENTITIES, defaultTableNames } from '../../src/model/entities.js';
import {
  kvLine,
  writeDynamoDbExport,
  writeKvStore,
  writeScanDump,
  writeScanDumps,
  type AttributeMap,
  type SourceManifest,
} from '../../src/extract/export-writer.js';
import { generateLegacyData } from '../../src/seed/generate.js';
import { readScanDump } from '../../src/seed/load-dynamodb.js';

const { tables } = generateLegacyData({ items: 240, seed: 4 });
const names = defaultTableNames();

async function readLines(file: string): Promise<string[]> {
  const input = file.endsWith('.gz') ? createReadStream(file).pipe(createGunzip()) : createReadStream(file);
  const lines: string[] = [];
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) if (line !== '') lines.push(line);
  return lines;
}

/** Export lines back to legacy items, the way the contract describes them: readline + JSON.parse. */
async function exportItems(files: string[]): Promise<LegacyItem[]> {
  const items: LegacyItem[] = [];
  for (const file of files) for (const line of await readLines(file)) items.push(fromAttributeMap(JSON.parse(line).Item));
  return items;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('DynamoDB export files', () => {
  let dir: string;
  let manifest: SourceManifest;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-seed-export-'));
    manifest = await writeDynamoDbExport(
      dir,
      LEGACY_ENTITIES.map((entity, i) => ({ table: names[entity], items: tables[entity], layout: i % 2 === 0 ? 's3' : 'flat' })),
      { itemsPerFile: 25, exportTime: new Date('2024-05-06T07:08:09.000Z') },
    );
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('writes the Export-to-S3 layout whose manifests describe the data files, md5 included', async () => {
    for (const entity of ['Kpi', 'GoalKpiLink', 'KpiActual'] as const) {
      const tableDir = path.join(dir, names[entity]);
      const [exportId] = await readdir(path.join(tableDir, 'AWSDynamoDB'));
      expect(exportId).toMatch(/^\d{14}-[0-9a-f]{8}$/);
      const exportDir = path.join(tableDir, 'AWSDynamoDB', exportId!);
      const summary = JSON.parse(await readFile(path.join(exportDir, 'manifest-summary.json'), 'utf8'));
      expect(summary).toMatchObject({ itemCount: tables[entity].length, outputFormat: 'DYNAMODB_JSON' });
      expect(summary.manifestFilesS3Key).toBe(`AWSDynamoDB/${exportId}/manifest-files.json`);
      const entries = (await readLines(path.join(tableDir, summary.manifestFilesS3Key))).map((line) => JSON.parse(line));
      expect(entries.length).toBe(Math.ceil(tables[entity].length / 25));
      const dataFiles: string[] = [];
      for (const entry of entries) {
        expect(entry.dataFileS3Key).toMatch(new RegExp(`^AWSDynamoDB/${exportId}/data/[a-z2-7]{26}\\.json\\.gz$`));
        const file = path.join(tableDir, entry.dataFileS3Key);
        const stored = await readFile(file);
        expect(entry.md5Checksum).toBe(createHash('md5').update(stored).digest('base64'));
        expect(entry.etag).toBe(createHash('md5').update(stored).digest('hex'));
        expect((await readLines(file)).length).toBe(entry.itemCount);
        dataFiles.push(file);
      }
      expect(await exportItems(dataFiles)).toEqual(tables[entity].map(fromAttributeMap));
    }
  });

  it('writes the flat layout, several parts per table, that parse back to the same items', async () => {
    for (const entity of ['Person', 'KpiMilestone', 'KpiReading'] as const) {
      const tableDir = path.join(dir, names[entity]);
      const parts = (await readdir(tableDir)).sort();
      expect(parts.every((p) => /^part-\d{5}\.json\.gz$/.test(p))).toBe(true);
      expect(parts.length).toBe(Math.max(1, Math.ceil(tables[entity].length / 25)));
      expect(await exportItems(parts.map((p) => path.join(tableDir, p)))).toEqual(tables[entity].map(fromAttributeMap));
    }
  });

  it('keeps binary as base64 and 38-digit numbers as written', async () => {
    const lines = (await readLines(path.join(dir, names.KpiActual, 'AWSDynamoDB', (await readdir(path.join(dir, names.KpiActual, 'AWSDynamoDB')))[0]!, 'manifest-files.json')))
      .map((l) => JSON.parse(l).dataFileS3Key as string);
    const text = (await Promise.all(lines.map((key) => readLines(path.join(dir, names.KpiActual, key))))).flat().join('\n');
    expect(text).toMatch(/"B":"[A-Za-z0-9+/]+=*"/);
    expect(text).toMatch(/"N":"\d{20}\.\d{18}"/);
  });

  it('writes gzip without a timestamp or file name, and a manifest.json with every file’s sha256', async () => {
    expect(Object.keys(manifest.tables)).toEqual(LEGACY_ENTITIES.map((e) => names[e]));
    const onDisk = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
    expect(onDisk).toEqual(manifest);
    for (const entity of LEGACY_ENTITIES) expect(manifest.tables[names[entity]]!.itemCount).toBe(tables[entity].length);
    for (const file of manifest.files) {
      const bytes = await readFile(path.join(dir, file.path));
      expect(sha256(bytes), file.path).toBe(file.sha256);
      expect(bytes.length).toBe(file.bytes);
      if (file.path.endsWith('.gz')) {
        expect([...bytes.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]); // FLG 0: no name, no comment
        expect(bytes.readUInt32LE(4)).toBe(0); // MTIME
      }
    }
  });

  it('writes one empty data file for an empty table', async () => {
    const emptyDir = await mkdtemp(path.join(tmpdir(), 'kpi-seed-empty-'));
    try {
      const written = await writeDynamoDbExport(emptyDir, [
        { table: 'empty-s3', items: [], layout: 's3' },
        { table: 'empty-flat', items: [], layout: 'flat' },
      ]);
      expect(written.tables['empty-s3']!.itemCount).toBe(0);
      const dataFiles = written.files.filter((f) => f.path.endsWith('.json.gz'));
      expect(dataFiles.map((f) => f.items)).toEqual([0, 0]);
      for (const file of dataFiles) expect(await readLines(path.join(emptyDir, file.path))).toEqual([]);
    } finally {
      await rm(emptyDir, { recursive: true, force: true });
    }
  });

  it('pulls items only as the file takes them (back-pressure)', async () => {
    const pulled: number[] = [];
    async function* slowSource(): AsyncGenerator<AttributeMap> {
      for (let i = 0; i < 3000; i++) {
        pulled.push(i);
        yield { Id: { S: `item-${i}` }, Payload: { S: 'x'.repeat(200) } };
      }
    }
    const bpDir = await mkdtemp(path.join(tmpdir(), 'kpi-seed-bp-'));
    try {
      const written = await writeDynamoDbExport(bpDir, [{ table: 't', items: slowSource(), layout: 'flat' }], { itemsPerFile: 1000 });
      expect(written.tables.t!.itemCount).toBe(3000);
      expect(pulled).toHaveLength(3000);
      expect(written.files).toHaveLength(3);
    } finally {
      await rm(bpDir, { recursive: true, force: true });
    }
  });
});

describe('whole-table scan dumps', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-seed-scan-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('print {"Items": […], "Count", "ScannedCount"} as the AWS CLI does, and parse back', async () => {
    const manifest = await writeScanDumps(dir, LEGACY_ENTITIES.map((entity) => ({ table: names[entity], items: tables[entity] })));
    for (const entity of LEGACY_ENTITIES) {
      const text = await readFile(path.join(dir, `${names[entity]}.json`), 'utf8');
      expect(text.startsWith('{\n    "Items": [\n        {\n            "')).toBe(true);
      const dump = JSON.parse(text);
      expect(dump.Count).toBe(tables[entity].length);
      expect(dump.ScannedCount).toBe(tables[entity].length);
      expect(dump.Items.map(fromAttributeMap)).toEqual(tables[entity].map(fromAttributeMap));
      // The streaming reader the DynamoDB loader uses gives the SDK's own values back.
      const streamed: AttributeMap[] = [];
      for await (const item of readScanDump(path.join(dir, `${names[entity]}.json`))) streamed.push(item);
      expect(streamed.map(fromAttributeMap)).toEqual(tables[entity].map(fromAttributeMap));
    }
    expect(manifest.format).toBe('dynamodb-scan');
  });

  it('prints an empty table as an empty list', async () => {
    await writeScanDump(dir, 'empty', []);
    expect(JSON.parse(await readFile(path.join(dir, 'empty.json'), 'utf8'))).toEqual({ Items: [], Count: 0, ScannedCount: 0, ConsumedCapacity: null });
  });
});

describe('kv_store JSON lines', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-seed-kv-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('key every item <prefix>:<Id> and hold plain JSON with numbers digit for digit', async () => {
    const manifest = await writeKvStore(
      dir,
      'kv.jsonl',
      LEGACY_ENTITIES.map((entity) => ({ prefix: DEFAULT_KV_PREFIX[entity], items: tables[entity] })),
    );
    const lines = await readLines(path.join(dir, 'kv.jsonl'));
    const total = LEGACY_ENTITIES.reduce((sum, entity) => sum + tables[entity].length, 0);
    expect(lines).toHaveLength(total);
    expect(manifest.files[0]!.items).toBe(total);
    let position = 0;
    for (const entity of LEGACY_ENTITIES) {
      for (const item of tables[entity]) {
        const line = lines[position++]!;
        const row = parseLossless(line) as { key: string; value: Record<string, unknown> };
        expect(row.key).toBe(`${DEFAULT_KV_PREFIX[entity]}:${item.Id!.S}`);
        expect(line).toBe(`{"key":${JSON.stringify(row.key)},"value":${toJsonText(fromAttributeMap(item))}}`);
        for (const [name, value] of Object.entries(item)) {
          if (value.N !== undefined) {
            const parsed = row.value[name];
            expect(isLosslessNumber(parsed) && parsed.toString()).toBe(value.N);
          }
          // toJsonText writes a set's members sorted: sets have no order.
          if (value.SS !== undefined) expect(row.value[name]).toEqual([...value.SS].map((v) => JSON.stringify(v)).sort().map((v) => JSON.parse(v)));
          if (value.B !== undefined) expect(row.value[name]).toBe(Buffer.from(value.B).toString('base64'));
        }
      }
    }
  });

  it('refuses an item without a string Id', () => {
    expect(() => kvLine('kpi', { Name: { S: 'x' } })).toThrow(/no string Id/);
  });
});
