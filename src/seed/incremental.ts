import { writeDynamoDbExport, writeIncrementalExport, type ChangeRecord, type WrittenTable } from '../extract/export-writer.js';
import { LEGACY_ENTITIES, type LegacyEntity, type TableNames } from '../model/entities.js';
import type { AttributeMap } from './render.js';

/**
 * DynamoDB incremental exports of a generated source (DynamoDB Local has no point-in-time
 * recovery, so it cannot make them): from state A, exported in full at `exportTime`, to state B.
 * Every record B differs in is written once, in the first half of the changes, or twice in the
 * second half: an interim image (the final one plus an attribute) in the first window, then its
 * final state in the second. Applied out of order, or the interim after the final write, the
 * target would keep the interim attribute or bring a deleted record back.
 */

/** Which windows are written, in minutes after the full export's time. */
export type WindowSet = 'consecutive' | 'overlapping' | 'gap';

export const WINDOW_SETS: Record<WindowSet, readonly (readonly [number, number])[]> = {
  /** Two windows, the second starting where the first ends. */
  consecutive: [
    [0, 15],
    [15, 30],
  ],
  /** The second window starts inside the first: the changes of minutes 10–15 are in both. */
  overlapping: [
    [0, 15],
    [10, 30],
  ],
  /** Minutes 15–20 are in no window: a sync must refuse the second. */
  gap: [
    [0, 15],
    [20, 30],
  ],
};

/** The attribute the interim image carries: no final state has it. */
export const INTERIM_ATTRIBUTE = 'SyncInterim';

/** One write to one record: at `micros` (since the epoch), its image after, undefined for a delete. */
interface Write {
  micros: bigint;
  image: AttributeMap | undefined;
  before: AttributeMap | undefined;
}

const MINUTE_MICROS = 60_000_000n;

function idOf(item: AttributeMap, entity: LegacyEntity): string {
  const id = item.Id?.S;
  if (id === undefined) throw new Error(`a ${entity} item has no string Id: it cannot be a DynamoDB key`);
  return id;
}

function byId(items: readonly AttributeMap[], entity: LegacyEntity): Map<string, AttributeMap> {
  return new Map(items.map((item) => [idOf(item, entity), item]));
}

/** The records of each table that differ between A and B, in a fixed order: entity, then Id. */
export function changedRecords(
  stateA: Record<LegacyEntity, readonly AttributeMap[]>,
  stateB: Record<LegacyEntity, readonly AttributeMap[]>,
): { entity: LegacyEntity; id: string; before: AttributeMap | undefined; after: AttributeMap | undefined }[] {
  const out: ReturnType<typeof changedRecords> = [];
  for (const entity of LEGACY_ENTITIES) {
    const a = byId(stateA[entity], entity);
    const b = byId(stateB[entity], entity);
    const ids = [...new Set([...a.keys(), ...b.keys()])].sort();
    for (const id of ids) {
      const before = a.get(id);
      const after = b.get(id);
      if (JSON.stringify(before) !== JSON.stringify(after)) out.push({ entity, id, before, after });
    }
  }
  return out;
}

/** Every write taking A to B, per entity and record, in write order; see the file's comment. */
export function writeHistory(
  stateA: Record<LegacyEntity, readonly AttributeMap[]>,
  stateB: Record<LegacyEntity, readonly AttributeMap[]>,
  exportTime: Date,
): Map<LegacyEntity, Map<string, Write[]>> {
  const t0 = BigInt(exportTime.getTime()) * 1000n;
  const changed = changedRecords(stateA, stateB);
  const half = Math.ceil(changed.length / 2);
  const at = (startMinute: bigint, spanMinutes: bigint, i: number, n: number) => t0 + startMinute * MINUTE_MICROS + (spanMinutes * MINUTE_MICROS * BigInt(i)) / BigInt(Math.max(n, 1));
  const history = new Map<LegacyEntity, Map<string, Write[]>>(LEGACY_ENTITIES.map((e) => [e, new Map()]));
  changed.forEach(({ entity, id, before, after }, index) => {
    const writes: Write[] = [];
    if (index < half) {
      // Minutes 1–14: some fall in the overlapping window's minutes 10–15 as well.
      writes.push({ micros: at(1n, 13n, index, half), image: after, before });
    } else {
      const i = index - half;
      const n = changed.length - half;
      const interim = { ...(after ?? before!), [INTERIM_ATTRIBUTE]: { S: 'an earlier write: the record changes again later' } };
      writes.push({ micros: at(10n, 4n, i, n), image: interim, before });
      writes.push({ micros: at(16n, 13n, i, n), image: after, before: interim });
    }
    history.get(entity)!.set(id, writes);
  });
  return history;
}

/** The lines of one table's window: per record, its last write in [from, to) (an export holds an item once). */
function windowChanges(writes: Map<string, Write[]>, from: bigint, to: bigint): ChangeRecord[] {
  const out: ChangeRecord[] = [];
  for (const [id, history] of writes) {
    const inWindow = history.filter((w) => w.micros >= from && w.micros < to);
    const last = inWindow[inWindow.length - 1];
    if (last === undefined) continue;
    const first = inWindow[0]!;
    out.push({
      keys: { Id: { S: id } },
      writeTimestampMicros: last.micros.toString(),
      ...(last.image === undefined ? {} : { newImage: last.image }),
      ...(first.before === undefined ? {} : { oldImage: first.before }),
    });
  }
  return out;
}

export interface IncrementalSeedOptions {
  tableNames: TableNames;
  /** The full export's time; the windows are minutes after it. */
  exportTime: Date;
  windows: WindowSet;
  /** Items (changes) per data file. */
  itemsPerFile?: number;
}

/**
 * Writes into `dir`, per table under `<table>/AWSDynamoDB/`, the full export of A and the
 * incremental exports of `windows` taking it towards B (all of B once the windows are applied,
 * unless the set leaves a gap).
 */
export async function writeIncrementalExports(
  dir: string,
  stateA: Record<LegacyEntity, readonly AttributeMap[]>,
  stateB: Record<LegacyEntity, readonly AttributeMap[]>,
  options: IncrementalSeedOptions,
): Promise<{ full: Awaited<ReturnType<typeof writeDynamoDbExport>>; windows: WrittenTable[] }> {
  const itemsPerFile = options.itemsPerFile === undefined ? {} : { itemsPerFile: options.itemsPerFile };
  const full = await writeDynamoDbExport(
    dir,
    LEGACY_ENTITIES.map((entity) => ({ table: options.tableNames[entity], items: stateA[entity], layout: 's3' as const })),
    { exportTime: options.exportTime, ...itemsPerFile },
  );
  const history = writeHistory(stateA, stateB, options.exportTime);
  const t0 = options.exportTime.getTime();
  const windows: WrittenTable[] = [];
  for (const [fromMinute, toMinute] of WINDOW_SETS[options.windows]) {
    const from = new Date(t0 + fromMinute * 60_000);
    const to = new Date(t0 + toMinute * 60_000);
    for (const entity of LEGACY_ENTITIES) {
      const changes = windowChanges(history.get(entity)!, BigInt(from.getTime()) * 1000n, BigInt(to.getTime()) * 1000n);
      windows.push(await writeIncrementalExport(dir, options.tableNames[entity], changes, { from, to, startTime: new Date(to.getTime() + 60_000) }, itemsPerFile));
    }
  }
  return { full, windows };
}
