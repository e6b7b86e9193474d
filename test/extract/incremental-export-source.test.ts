import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { writeDynamoDbExport, writeIncrementalExport, type AttributeMap, type ChangeRecord } from '../../src/extract/export-writer.js';
import { createExportSource } from '../../src/extract/export-source.js';
import { findTableExport } from '../../src/extract/export-layout.js';
import { createIncrementalExportSource, EXPORTED_THROUGH, planWindows, type ExportWindow } from '../../src/extract/incremental-export-source.js';
import { toAttributeMap } from '../../src/extract/dynamodb-json.js';
import { compareWriteOrder, type ChangePage, type SourceChange } from '../../src/model/change.js';
import { defaultTableNames, LEGACY_ENTITIES, type LegacyEntity } from '../../src/model/entities.js';
import { LegacyNumber, type LegacyItem } from '../../src/model/legacy-value.js';
import { caseDirectories, failureOf } from './export-files.js';
import { unreadableProblemOf } from '../../src/model/unreadable.js';
import { deriveChangedState, INTERIM_ATTRIBUTE, planLegacyData, writeIncrementalExports, type WindowSet } from '../../src/seed/index.js';

const ENTITY: LegacyEntity = 'KpiReading';
const T0 = new Date('2024-03-01T00:00:00.000Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);
const micros = (date: Date, plus = 0) => (BigInt(date.getTime()) * 1000n + BigInt(plus)).toString();

let root: string;
let counter = 0;
const freshDir = caseDirectories(() => root, ENTITY);

async function pagesOf(iterable: AsyncIterable<ChangePage>): Promise<ChangePage[]> {
  const pages: ChangePage[] = [];
  for await (const page of iterable) pages.push(page);
  return pages;
}

const reading = (id: string, value: string): AttributeMap => toAttributeMap({ Id: id, TenantId: 't', Value: new LegacyNumber(value) });

function upsert(id: string, at: string, value: string): ChangeRecord {
  return { keys: { Id: { S: id } }, writeTimestampMicros: at, newImage: { Id: { S: id }, TenantId: { S: 't' }, Value: { N: value } } };
}

/** A table with a full export at T0 and the given windows (minutes after T0), each with its changes. */
async function exportsWith(windows: { from: number; to: number; changes: ChangeRecord[] }[], options: { pageSize?: number } = {}) {
  const { dir, tableNames, table } = await freshDir();
  await writeDynamoDbExport(dir, [{ table, items: [reading('r-1', '1'), reading('r-2', '2')], layout: 's3' }], { exportTime: T0 });
  for (const window of windows) await writeIncrementalExport(dir, table, window.changes, { from: minutes(window.from), to: minutes(window.to) }, { itemsPerFile: 2 });
  return { dir, table, tableNames, source: createIncrementalExportSource({ dir, tableNames, pageSize: options.pageSize ?? 1000 }) };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kpi-incremental-export-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('planWindows: gaps and overlaps after what the target holds', () => {
  const window = (id: string, from: number, to: number): ExportWindow => ({
    entity: ENTITY,
    table: 'readings',
    id,
    from: minutes(from).toISOString(),
    to: minutes(to).toISOString(),
    outputView: 'NEW_AND_OLD_IMAGES',
    summary: {} as ExportWindow['summary'],
  });
  const held = T0.toISOString();

  it('consecutive windows are applied in order of exportFromTime, whatever order they are listed in', () => {
    const plan = planWindows(ENTITY, held, [window('b', 15, 30), window('a', 0, 15)]);
    expect(plan.apply.map((w) => w.id)).toEqual(['a', 'b']);
    expect(plan.heldAfter).toBe(minutes(30).toISOString());
  });

  it('a window overlapping the last one is applied; one wholly before what the target holds is left out', () => {
    const plan = planWindows(ENTITY, minutes(15).toISOString(), [window('old', 0, 15), window('overlap', 10, 30), window('again', 10, 30)]);
    // Two copies of one window (ties go by id): the second ends where the first leaves the target, so nothing in it is new.
    expect(plan.apply.map((w) => w.id)).toEqual(['again']);
    expect(plan.before.map((w) => w.id)).toEqual(['old', 'overlap']);
    expect(plan.heldAfter).toBe(minutes(30).toISOString());
  });

  it('a full export taken inside a window: the window is applied (its earlier changes are no-ops)', () => {
    const plan = planWindows(ENTITY, minutes(5).toISOString(), [window('a', 0, 15)]);
    expect(plan.apply.map((w) => w.id)).toEqual(['a']);
  });

  it('nothing after what the target holds: nothing to apply', () => {
    const plan = planWindows(ENTITY, minutes(30).toISOString(), [window('a', 0, 15), window('b', 15, 30)]);
    expect(plan.apply).toEqual([]);
    expect(plan.heldAfter).toBe(minutes(30).toISOString());
  });

  it('a window starting after the full export is SYNC_REFUSED, naming the window, the times and how long the gap is', () => {
    const error = (() => {
      try {
        planWindows(ENTITY, held, [window('late', 1, 15)]);
      } catch (e) {
        return e;
      }
    })() as MigrateError;
    expect(error).toBeInstanceOf(MigrateError);
    expect(error.code).toBe('SYNC_REFUSED');
    expect(error.message).toContain('late');
    expect(error.message).toContain('60 s after 2024-03-01T00:00:00.000Z');
    expect(error.message).toContain('nothing was written');
  });

  it('a gap between two windows is SYNC_REFUSED even though the first would apply: the chain is checked whole first', () => {
    expect(() => planWindows(ENTITY, held, [window('a', 0, 15), window('c', 20, 30)])).toThrow(expect.objectContaining({ code: 'SYNC_REFUSED' }));
  });
});

describe('incremental export source', () => {
  it('reads each window in order, one partition per data file, with write orders, deletes and resumable positions', async () => {
    const { source, table } = await exportsWith([
      { from: 0, to: 15, changes: [upsert('r-1', micros(minutes(1)), '10'), { keys: { Id: { S: 'r-2' } }, writeTimestampMicros: micros(minutes(2)), oldImage: reading('r-2', '2') }, upsert('r-3', micros(minutes(3)), '30')] },
      { from: 15, to: 30, changes: [upsert('r-1', micros(minutes(16)), '11')] },
    ]);
    expect(await source.fullExportTime(ENTITY)).toBe(T0.toISOString());
    const plan = await source.plan({ entity: ENTITY, time: T0.toISOString() });
    expect(plan.apply).toHaveLength(2);
    const files = [...plan.files.values()].flat();
    // Two data files for the first window (2 changes per file), one for the second.
    expect(files.map((f) => f.partition.startsWith(`${table}/AWSDynamoDB/data/`))).toEqual([true, true, true]);
    const pages = await pagesOf(source.readChanges(plan));
    const changes = pages.flatMap((p) => p.changes);
    expect(changes.map((c) => [c.sourceId, c.newImage === null ? 'delete' : (c.newImage.Value as LegacyNumber).text])).toEqual(
      expect.arrayContaining([
        ['r-1', '10'],
        ['r-2', 'delete'],
        ['r-3', '30'],
      ]),
    );
    expect(changes.at(-1)).toMatchObject({ sourceId: 'r-1', writeOrder: micros(minutes(16)), writeOrderKind: 'export-write-micros', entity: ENTITY });
    expect(pages.filter((p) => p.done).map((p) => p.partition)).toEqual(files.map((f) => f.partition));
    // Each window ends with a page recording it applied, in the transaction of its last changes.
    expect(pages.filter((p) => p.partition === EXPORTED_THROUGH).map((p) => [p.changes.length, p.position])).toEqual(
      plan.apply.map((w) => [0, { time: w.to, export: w.id, kind: 'incremental' }]),
    );
    // Resuming: the first file done, the second one line in.
    const [first, second] = files;
    const resumed = await pagesOf(source.readChanges(plan, { [first!.partition]: { position: { line: 2 }, done: true }, [second!.partition]: { position: { line: 1 }, done: false } }));
    const secondFileLines = pages.filter((p) => p.partition === second!.partition).flatMap((p) => p.changes);
    expect(resumed.flatMap((p) => p.changes)).toEqual([...secondFileLines.slice(1), changes.at(-1)]);
  });

  it('pages are at most pageSize changes, and a partition ends with a done page', async () => {
    const many = Array.from({ length: 7 }, (_, i) => upsert(`r-${i}`, micros(minutes(1), i), String(i)));
    const { dir, tableNames, table } = await freshDir();
    await writeDynamoDbExport(dir, [{ table, items: [], layout: 's3' }], { exportTime: T0 });
    await writeIncrementalExport(dir, table, many, { from: T0, to: minutes(15) });
    const source = createIncrementalExportSource({ dir, tableNames, pageSize: 3 });
    const pages = await pagesOf(source.readChanges(await source.plan({ entity: ENTITY, time: T0.toISOString() })));
    expect(pages.map((p) => [p.changes.length, p.position, p.done])).toEqual([
      [3, { line: 3 }, false],
      [3, { line: 6 }, false],
      [1, { line: 7 }, true],
      [0, { time: minutes(15).toISOString(), export: expect.any(String), kind: 'incremental' }, false],
    ]);
  });

  it('write orders beyond 2^53 stay digits and compare as integers', async () => {
    const { source } = await exportsWith([{ from: 0, to: 15, changes: [upsert('r-1', '99999999999999999999', '1')] }]);
    const [change] = (await pagesOf(source.readChanges(await source.plan({ entity: ENTITY, time: T0.toISOString() })))).flatMap((p) => p.changes);
    expect(change!.writeOrder).toBe('99999999999999999999');
    expect(compareWriteOrder(change!.writeOrder, '99999999999999999998')).toBe(1);
  });

  it('a window leaving a gap after the full export is refused before anything is read', async () => {
    const { source } = await exportsWith([{ from: 5, to: 15, changes: [upsert('r-1', micros(minutes(6)), '1')] }]);
    const error = await failureOf(source.plan({ entity: ENTITY, time: T0.toISOString() }));
    expect(error.code).toBe('SYNC_REFUSED');
  });

  it('a line whose NewImage is not DynamoDB JSON is the record’s new state all the same, unreadable (a reject), keeping the line', async () => {
    const { dir, tableNames, table } = await freshDir();
    await writeDynamoDbExport(dir, [{ table, items: [], layout: 's3' }], { exportTime: T0 });
    await writeIncrementalExport(dir, table, [upsert('r-1', micros(minutes(1)), '1')], { from: T0, to: minutes(15) });
    const bad = `{"Metadata":{"WriteTimestampMicros":{"N":"${micros(minutes(2))}"}},"Keys":{"Id":{"S":"r-9"}},"NewImage":{"Id":{"S":"r-9"},"Value":{"BOOL":"yes"}}}`;
    await rewriteDataFile(dir, table, (lines) => [...lines, bad]);
    const source = createIncrementalExportSource({ dir, tableNames });
    const changes = (await pagesOf(source.readChanges(await source.plan({ entity: ENTITY, time: T0.toISOString() })))).flatMap((p) => p.changes);
    const unreadable = changes.find((c) => c.sourceId === 'r-9')!;
    expect(unreadableProblemOf(unreadable.newImage as LegacyItem)).toMatchObject({ attribute: 'NewImage' });
    expect((unreadable.newImage as LegacyItem).line).toBe(bad);
  });

  it.each([
    ['not JSON', '{"Metadata":', 'not JSON'],
    ['no write time', '{"Keys":{"Id":{"S":"r-1"}},"NewImage":{"Id":{"S":"r-1"}}}', 'WriteTimestampMicros'],
    ['a write time that is not digits', '{"Metadata":{"WriteTimestampMicros":{"N":"1.5e3"}},"Keys":{"Id":{"S":"r-1"}}}', 'WriteTimestampMicros'],
    ['no Keys', '{"Metadata":{"WriteTimestampMicros":{"N":"5"}},"NewImage":{"Id":{"S":"r-1"}}}', 'no Keys'],
    ['a Keys without a string Id', '{"Metadata":{"WriteTimestampMicros":{"N":"5"}},"Keys":{"Id":{"N":"5"}}}', 'no string Id'],
  ])('a line with %s names no record or order: SOURCE_CORRUPT naming file and line, after the changes before it', async (_name, line, says) => {
    const { dir, tableNames, table } = await freshDir();
    await writeDynamoDbExport(dir, [{ table, items: [], layout: 's3' }], { exportTime: T0 });
    await writeIncrementalExport(dir, table, [upsert('r-1', micros(minutes(1)), '1')], { from: T0, to: minutes(15) });
    await rewriteDataFile(dir, table, (lines) => [...lines, line]);
    const source = createIncrementalExportSource({ dir, tableNames });
    const plan = await source.plan({ entity: ENTITY, time: T0.toISOString() });
    const seen: SourceChange[] = [];
    const error = await failureOf(
      (async () => {
        for await (const page of source.readChanges(plan)) seen.push(...page.changes);
      })(),
    );
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toContain('line 2 of');
    expect(error.message).toContain(says);
    expect(seen.map((c) => c.sourceId)).toEqual(['r-1']);
  });

  it('a data file the manifest lists but the folder lacks is SOURCE_CORRUPT naming it, before anything is read', async () => {
    const { source, dir, table } = await exportsWith([{ from: 0, to: 15, changes: [upsert('r-1', micros(minutes(1)), '1')] }]);
    const dataDir = join(dir, table, 'AWSDynamoDB', 'data');
    const [name] = await readdir(dataDir);
    await rm(join(dataDir, name!));
    const error = await failureOf(source.plan({ entity: ENTITY, time: T0.toISOString() }));
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toContain(name!);
    expect(error.message).toContain('missing');
  });

  it('a data file whose changes or MD5 differ from manifest-files.json is SOURCE_CORRUPT', async () => {
    const { dir, tableNames, table } = await freshDir();
    await writeDynamoDbExport(dir, [{ table, items: [], layout: 's3' }], { exportTime: T0 });
    await writeIncrementalExport(dir, table, [upsert('r-1', micros(minutes(1)), '1')], { from: T0, to: minutes(15) });
    await rewriteDataFile(dir, table, (lines) => [...lines, lines[0]!], 'keep');
    const source = createIncrementalExportSource({ dir, tableNames });
    const error = await failureOf(pagesOf(source.readChanges(await source.plan({ entity: ENTITY, time: T0.toISOString() }))));
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toMatch(/holds 2 items but manifest-files.json says itemCount 1/);
  });

  it.each([
    ['no exportFromTime', (s: Record<string, unknown>) => void delete s.exportFromTime, 'exportFromTime and exportToTime'],
    ['a window ending before it starts', (s: Record<string, unknown>) => void (s.exportToTime = '2024-02-01T00:00:00.000Z'), 'is not before exportToTime'],
    ['a time that is not ISO-8601', (s: Record<string, unknown>) => void (s.exportToTime = 'yesterday'), 'exportFromTime and exportToTime'],
    ['an unknown outputView', (s: Record<string, unknown>) => void (s.outputView = 'KEYS_ONLY'), 'outputView "KEYS_ONLY" is not supported'],
    ['an unknown exportType', (s: Record<string, unknown>) => void (s.exportType = 'DIFFERENTIAL'), 'exportType DIFFERENTIAL is not supported'],
    ['no itemCount', (s: Record<string, unknown>) => void delete s.itemCount, 'no valid itemCount'],
  ])('a summary with %s is refused with a clear error naming the file', async (_name, damage, says) => {
    const { source, dir, table } = await exportsWith([{ from: 0, to: 15, changes: [upsert('r-1', micros(minutes(1)), '1')] }]);
    await rewriteIncrementalSummary(dir, table, damage);
    const error = await failureOf(source.plan({ entity: ENTITY, time: T0.toISOString() }));
    expect(error.message).toContain('manifest-summary.json');
    expect(error.message).toContain(says);
  });

  it('a manifest-files.json line that is not JSON, or lacks a field, is SOURCE_CORRUPT naming the line', async () => {
    const { source, dir, table } = await exportsWith([{ from: 0, to: 15, changes: [upsert('r-1', micros(minutes(1)), '1')] }]);
    const manifest = await incrementalManifestPath(dir, table);
    await writeFile(manifest, `${(await readFile(manifest, 'utf8')).trimEnd()}\n{"itemCount": 0}\n`);
    const error = await failureOf(source.plan({ entity: ENTITY, time: T0.toISOString() }));
    expect(error.code).toBe('SOURCE_CORRUPT');
    expect(error.message).toContain('line 2 lacks itemCount, md5Checksum or dataFileS3Key');
    await writeFile(manifest, '{"itemCount": 1,\n');
    expect((await failureOf(source.plan({ entity: ENTITY, time: T0.toISOString() }))).message).toContain('line 1 is not valid JSON');
  });

  it('a table with no AWSDynamoDB folder is SOURCE_UNAVAILABLE naming the table', async () => {
    const { dir, tableNames, table } = await freshDir();
    const error = await failureOf(createIncrementalExportSource({ dir, tableNames }).plan({ entity: ENTITY, time: T0.toISOString() }));
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.message).toContain(table);
  });
});

describe('a full export beside its incremental exports (what `run` reads)', () => {
  it('run takes the full export, and says its exportTime; the incremental ones are left to sync', async () => {
    const { dir, tableNames, table } = await exportsWith([{ from: 0, to: 15, changes: [upsert('r-9', micros(minutes(1)), '9')] }]);
    const found = await findTableExport(dir, table);
    expect(found).toMatchObject({ exportTime: T0.toISOString(), expectedItems: 2 });
    const source = createExportSource({ dir, tableNames });
    const ids: unknown[] = [];
    for await (const page of source.readTable(ENTITY)) ids.push(...page.items.map((i) => i.Id));
    expect(ids.sort()).toEqual(['r-1', 'r-2']);
  });

  it('two full exports are still refused: which point in time is meant is the operator’s choice', async () => {
    const { dir, tableNames, table } = await freshDir();
    await writeDynamoDbExport(dir, [{ table, items: [reading('r-1', '1')], layout: 's3' }], { exportTime: T0 });
    await writeDynamoDbExport(dir, [{ table, items: [reading('r-1', '2')], layout: 's3' }], { exportTime: minutes(60) });
    const error = await failureOf(findTableExport(dir, table));
    expect(error.message).toMatch(/holds 2 full exports .*keep only the one to migrate/);
    expect(await createIncrementalExportSource({ dir, tableNames }).fullExportTime(ENTITY)).toBeUndefined();
  });

  it('incremental exports without their full export are refused by run, saying sync is theirs', async () => {
    const { dir, table } = await freshDir();
    await writeIncrementalExport(dir, table, [upsert('r-1', micros(minutes(1)), '1')], { from: T0, to: minutes(15) });
    const error = await failureOf(findTableExport(dir, table));
    expect(error.message).toContain('holds only incremental exports');
    expect(error.message).toContain('sync --source export');
  });
});

describe('seeded incremental exports', () => {
  const plan = planLegacyData({ items: 400, seed: 4, tenants: 3 });
  const stateA = Object.fromEntries(LEGACY_ENTITIES.map((e) => [e, [...plan.tableItems(e)]])) as Record<LegacyEntity, AttributeMap[]>;
  const stateB = deriveChangedState(plan, { seed: 7 }).tables;
  const tableNames = defaultTableNames();

  /** Applies changes by last writer wins, as the sync engine must, onto the full export's items (raw lines compared). */
  async function applied(set: WindowSet, order: 'in order' | 'last window first' = 'in order') {
    const dir = join(root, `seed-${set}-${counter++}`);
    await writeIncrementalExports(dir, stateA, stateB, { tableNames, exportTime: T0, windows: set, itemsPerFile: 50 });
    const source = createIncrementalExportSource({ dir, tableNames, pageSize: 37 });
    const full = createExportSource({ dir, tableNames });
    const result = {} as Record<LegacyEntity, Map<string, string>>;
    for (const entity of LEGACY_ENTITIES) {
      const state = new Map<string, { order: string; image: string | null }>();
      for await (const page of full.readTable(entity)) for (const item of page.items) state.set(String(item.Id), { order: '0', image: JSON.stringify(item) });
      const windowPlan = await source.plan({ entity, time: (await source.fullExportTime(entity))! });
      if (order === 'last window first') windowPlan.apply.reverse();
      for await (const page of source.readChanges(windowPlan)) {
        for (const change of page.changes) {
          const held = state.get(change.sourceId);
          if (held !== undefined && compareWriteOrder(held.order, change.writeOrder) >= 0) continue;
          state.set(change.sourceId, { order: change.writeOrder, image: change.newImage === null ? null : JSON.stringify(change.newImage) });
        }
      }
      result[entity] = new Map([...state].filter(([, v]) => v.image !== null).map(([id, v]) => [id, v.image!]));
    }
    return result;
  }

  async function stateBAsRead() {
    const dir = join(root, `seed-b-${counter++}`);
    await writeDynamoDbExport(dir, LEGACY_ENTITIES.map((e) => ({ table: tableNames[e], items: stateB[e], layout: 's3' as const })), { exportTime: T0 });
    const full = createExportSource({ dir, tableNames });
    const result = {} as Record<LegacyEntity, Map<string, string>>;
    for (const entity of LEGACY_ENTITIES) {
      result[entity] = new Map();
      for await (const page of full.readTable(entity)) for (const item of page.items) result[entity].set(String(item.Id), JSON.stringify(item));
    }
    return result;
  }

  it.each(['consecutive', 'overlapping'] as const)('%s windows applied by last writer wins take A to B exactly, even last window first', async (set) => {
    const expected = await stateBAsRead();
    expect(await applied(set)).toEqual(expected);
    expect(await applied(set, 'last window first')).toEqual(expected);
  });

  it('every kind of record change is there: inserts, updates, deletes, and interim writes a later window supersedes', async () => {
    const dir = join(root, `seed-kinds-${counter++}`);
    await writeIncrementalExports(dir, stateA, stateB, { tableNames, exportTime: T0, windows: 'consecutive' });
    const source = createIncrementalExportSource({ dir, tableNames });
    const kinds = new Set<string>();
    for (const entity of LEGACY_ENTITIES) {
      const windowPlan = await source.plan({ entity, time: T0.toISOString() });
      expect(windowPlan.apply).toHaveLength(2);
      for await (const page of source.readChanges(windowPlan)) {
        for (const change of page.changes) {
          if (change.newImage === null) kinds.add('delete');
          else if (INTERIM_ATTRIBUTE in change.newImage) kinds.add('interim');
          else kinds.add('final');
        }
      }
    }
    expect([...kinds].sort()).toEqual(['delete', 'final', 'interim']);
  });

  it('the gap set is refused: its second window starts 5 minutes after the first ends', async () => {
    const dir = join(root, `seed-gap-${counter++}`);
    await writeIncrementalExports(dir, stateA, stateB, { tableNames, exportTime: T0, windows: 'gap' });
    const source = createIncrementalExportSource({ dir, tableNames });
    const error = await failureOf(source.plan({ entity: 'GoalKpiLink', time: T0.toISOString() }));
    expect(error.code).toBe('SYNC_REFUSED');
    expect(error.message).toContain('300 s after');
  });
});

async function incrementalSummaryPath(dir: string, table: string): Promise<string> {
  const exportsDir = join(dir, table, 'AWSDynamoDB');
  for (const id of await readdir(exportsDir)) {
    if (id === 'data') continue;
    const path = join(exportsDir, id, 'manifest-summary.json');
    const summary = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    if (summary.exportType === 'INCREMENTAL_EXPORT') return path;
  }
  throw new Error('no incremental export');
}

async function incrementalManifestPath(dir: string, table: string): Promise<string> {
  return join(await incrementalSummaryPath(dir, table), '..', 'manifest-files.json');
}

async function rewriteIncrementalSummary(dir: string, table: string, damage: (summary: Record<string, unknown>) => void): Promise<void> {
  const path = await incrementalSummaryPath(dir, table);
  const summary = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  damage(summary);
  await writeFile(path, JSON.stringify(summary));
}

/**
 * Rewrites the (only) data file of the table's incremental export. The MD5 in manifest-files.json
 * follows the new bytes; the item counts (manifest and summary) follow the new lines too, unless
 * `counts` is 'keep' (a test of a count that disagrees).
 */
async function rewriteDataFile(dir: string, table: string, edit: (lines: string[]) => string[], counts: 'follow' | 'keep' = 'follow'): Promise<void> {
  const manifest = await incrementalManifestPath(dir, table);
  const entry = JSON.parse((await readFile(manifest, 'utf8')).trim()) as { itemCount: number; md5Checksum: string; dataFileS3Key: string };
  const path = join(dir, table, ...entry.dataFileS3Key.split('/'));
  const lines = edit(gunzipSync(await readFile(path)).toString('utf8').split('\n').filter((l) => l !== ''));
  const bytes = gzipSync(`${lines.join('\n')}\n`);
  await writeFile(path, bytes);
  const itemCount = counts === 'keep' ? entry.itemCount : lines.length;
  await writeFile(manifest, `${JSON.stringify({ ...entry, itemCount, md5Checksum: createHash('md5').update(bytes).digest('base64') })}\n`);
  await rewriteIncrementalSummary(dir, table, (summary) => void (summary.itemCount = itemCount));
}
