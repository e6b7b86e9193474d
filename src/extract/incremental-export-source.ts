import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MigrateError } from '../errors.js';
import type { ChangePage, ChangePositions, ChangeSource, SourceChange } from '../model/change.js';
import { LEGACY_ENTITIES, type LegacyEntity, type TableNames } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { Position, ResumeState } from '../model/source.js';
import { unreadableRecord } from '../model/unreadable.js';
import { fromAttributeMap, fromAttributeValue } from './dynamodb-json.js';
import { exportDataFiles, listS3Exports, type ExportDataFile, type S3ExportSummary } from './export-layout.js';
import { corrupt, DEFAULT_EXPORT_PAGE_SIZE, readLinePages, resumeLine } from './export-source.js';

/**
 * DynamoDB incremental exports (`exportType` INCREMENTAL_EXPORT) read as changes: each window's
 * data files in turn, one partition per file, a line `{"Metadata": {"WriteTimestampMicros": …},
 * "Keys": …, "NewImage": …, "OldImage": …}` one change, a line without NewImage a delete.
 */

/** One incremental export of a table: the changes made from `from` up to `to`. */
export interface ExportWindow {
  entity: LegacyEntity;
  table: string;
  id: string;
  /** ISO-8601, as the summary spells them. */
  from: string;
  to: string;
  outputView: string;
  summary: S3ExportSummary;
}

/** What a table's target already holds: the full export's exportTime, or the end of the last window applied. */
export interface HeldPoint {
  entity: LegacyEntity;
  /** ISO-8601. */
  time: string;
}

/** The windows to apply to a table, in order, and those wholly before what it holds (already in it). */
export interface WindowPlan {
  entity: LegacyEntity;
  held: string;
  apply: ExportWindow[];
  before: ExportWindow[];
  /** What the table holds once every window of `apply` is applied: the last one's `to` (else `held`). */
  heldAfter: string;
  /** The data files of each window of `apply`, by window id (filled by `IncrementalExportSource.plan`). */
  files: Map<string, ExportDataFile[]>;
}

/**
 * The partition of a table's change positions that says what its target holds (contract §5):
 * `{"time": <ISO-8601>, "export": <id>, "kind": "full" | "incremental"}`, recorded by a run
 * from its full export and moved on by a sync as each window completes (in the transaction of
 * the window's last changes). Not a file: data files are named by their path.
 */
export const EXPORTED_THROUGH = 'exported-through';

export interface ExportedThrough {
  time: string;
  export: string;
  kind: 'full' | 'incremental';
}

export function exportedThroughPosition(point: ExportedThrough): Position {
  return { time: point.time, export: point.export, kind: point.kind };
}

/** What a table's change positions say its target holds; undefined when nothing was recorded. */
export function exportedThroughOf(positions: ResumeState | undefined): ExportedThrough | undefined {
  const position = positions?.[EXPORTED_THROUGH]?.position;
  if (position === undefined || position === null) return undefined;
  const { time, export: id, kind } = position;
  if (typeof time !== 'string' || Number.isNaN(Date.parse(time)) || typeof id !== 'string' || (kind !== 'full' && kind !== 'incremental')) {
    throw new MigrateError('RUN_STATE', `the recorded ${EXPORTED_THROUGH} position is not {"time", "export", "kind"}: ${JSON.stringify(position)}`);
  }
  return { time, export: id, kind };
}

export interface IncrementalExportSourceOptions {
  dir: string;
  tableNames: TableNames;
  /** Changes per page (default 1000). */
  pageSize?: number;
}

export interface IncrementalExportSource extends ChangeSource {
  /** The table's full export's exportTime, when the folder holds one with it. */
  fullExportTime(entity: LegacyEntity): Promise<string | undefined>;
  /** Every incremental export of the table, by `exportFromTime` (then `exportToTime`, id). */
  windows(entity: LegacyEntity): Promise<ExportWindow[]>;
  /**
   * The windows that take the table on from `held`; SYNC_REFUSED (nothing read) when one starts after
   * what the table holds by then, since the changes in between are in no window.
   */
  plan(held: HeldPoint): Promise<WindowPlan>;
  /**
   * The changes of the plan's windows in order, one partition per data file (its path under
   * `dir`, unique: the windows' files share `AWSDynamoDB/data/`), skipping what `from` says was
   * done; a partition's pages carry `{line}` positions as a full export's do.
   */
  readChanges(plan: WindowPlan, from?: ResumeState): AsyncIterable<ChangePage>;
  /**
   * ChangeSource: every table's windows after what its positions say it holds (EXPORTED_THROUGH),
   * all planned first (SYNC_REFUSED before anything is read), then window after window; each window
   * ends with a page of no changes moving EXPORTED_THROUGH to its `exportToTime`.
   */
  changes(from: ChangePositions): AsyncIterable<ChangePage>;
}

const WRITE_MICROS = /^[0-9]{1,30}$/;

function byWindowOrder(a: ExportWindow, b: ExportWindow): number {
  return Date.parse(a.from) - Date.parse(b.from) || Date.parse(a.to) - Date.parse(b.to) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function gapSeconds(from: string, to: string): string {
  return ((Date.parse(to) - Date.parse(from)) / 1000).toFixed(3).replace(/\.?0+$/, '');
}

/**
 * Orders the windows and checks they follow on from `held` without a gap: a window wholly before
 * what the table holds by then is left out (its changes are in the target already), one that
 * overlaps it is applied (re-applied changes are no-ops under last-writer-wins), one that starts
 * after it is a gap. Nothing is read before the whole chain is known to be whole.
 */
export function planWindows(entity: LegacyEntity, held: string, windows: readonly ExportWindow[]): WindowPlan {
  let cursor = held;
  const apply: ExportWindow[] = [];
  const before: ExportWindow[] = [];
  for (const window of [...windows].sort(byWindowOrder)) {
    if (Date.parse(window.to) <= Date.parse(cursor)) {
      before.push(window);
      continue;
    }
    if (Date.parse(window.from) > Date.parse(cursor)) {
      throw new MigrateError(
        'SYNC_REFUSED',
        `${window.table}: incremental export ${window.id} starts at ${window.from}, ${gapSeconds(cursor, window.from)} s after ${cursor}, ` +
          `what the target holds ${apply.length === 0 ? '(the full export, or the last window applied)' : `after window ${apply[apply.length - 1]!.id}`}: ` +
          `the changes in between are in no export. Export the missing window (exportFromTime ${cursor}), or start again from a new full export; nothing was written`,
        { details: { table: window.table, entity, held: cursor, window: window.id, exportFromTime: window.from } },
      );
    }
    apply.push(window);
    cursor = window.to;
  }
  return { entity, held, apply, before, heldAfter: cursor, files: new Map() };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A change line → a change. A line whose key or write time cannot be read names no record and no
 * order: SOURCE_CORRUPT. A NewImage that is not DynamoDB JSON is the record's new state all the
 * same, an unreadable one (the transform rejects it, as it does a full export's unreadable line).
 */
function parseChangeLine(line: string, where: string, entity: LegacyEntity, file: ExportDataFile): SourceChange {
  const bad = (what: string, cause?: unknown) => corrupt(file, `${where} is not an incremental export change: ${what}`, { line: where }, cause);
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    throw bad(`not JSON (${reason(error)})`, error);
  }
  if (!isObject(parsed)) throw bad('not a JSON object');
  const micros = isObject(parsed.Metadata) && isObject(parsed.Metadata.WriteTimestampMicros) ? parsed.Metadata.WriteTimestampMicros.N : undefined;
  if (typeof micros !== 'string' || !WRITE_MICROS.test(micros)) throw bad('no Metadata.WriteTimestampMicros.N of digits');
  if (!isObject(parsed.Keys)) throw bad('no Keys object');
  let id: unknown;
  try {
    id = isObject(parsed.Keys.Id) ? fromAttributeValue(parsed.Keys.Id) : undefined;
  } catch (error) {
    throw bad(`Keys.Id is not DynamoDB JSON (${reason(error)})`, error);
  }
  if (typeof id !== 'string') throw bad('Keys has no string Id');
  const change = (newImage: LegacyItem | null): SourceChange => ({ entity, sourceId: id, newImage, writeOrder: micros, writeOrderKind: 'export-write-micros' });
  if (parsed.NewImage === undefined) return change(null);
  if (!isObject(parsed.NewImage)) {
    return change(unreadableRecord({ Id: id, line }, { attribute: 'NewImage', message: `${where}: NewImage is not an object` }));
  }
  try {
    return change(fromAttributeMap(parsed.NewImage as Record<string, AttributeValue>));
  } catch (error) {
    return change(unreadableRecord({ Id: id, line }, { attribute: 'NewImage', message: `${where}: NewImage is not DynamoDB JSON (${reason(error)})` }));
  }
}

/** Pages of one window's data file from line `skip` on; a break ends it after a page of what came before. */
async function* readChangeFile(file: ExportDataFile, entity: LegacyEntity, skip: number, pageSize: number): AsyncGenerator<ChangePage> {
  for await (const { lines, lineNumbers, consumed, done } of readLinePages(file, skip, pageSize)) {
    const changes: SourceChange[] = [];
    for (const [index, line] of lines.entries()) {
      try {
        changes.push(parseChangeLine(line, `line ${lineNumbers[index]!} of ${file.partition}`, entity, file));
      } catch (error) {
        // The changes before a line that names no record still count: the sync stops after them.
        if (changes.length > 0) yield { entity, partition: file.partition, changes, position: { line: lineNumbers[index - 1]! }, done: false };
        throw error;
      }
    }
    yield { entity, partition: file.partition, changes, position: { line: consumed }, done };
  }
}

/** A window's changes, file after file, then the page that records the window applied. */
async function* readWindow(window: ExportWindow, files: readonly ExportDataFile[], from: ResumeState | undefined, pageSize = DEFAULT_EXPORT_PAGE_SIZE): AsyncGenerator<ChangePage> {
  for (const file of files) {
    const state = from?.[file.partition];
    if (state?.done) continue;
    yield* readChangeFile(file, window.entity, resumeLine(file.partition, state?.position), pageSize);
  }
  yield {
    entity: window.entity,
    partition: EXPORTED_THROUGH,
    changes: [],
    position: exportedThroughPosition({ time: window.to, export: window.id, kind: 'incremental' }),
    done: false,
  };
}

export function createIncrementalExportSource(options: IncrementalExportSourceOptions): IncrementalExportSource {
  const pageSize = options.pageSize ?? DEFAULT_EXPORT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new MigrateError('CONFIG_INVALID', `export page size must be a positive integer, got ${pageSize}`);
  }

  async function summaries(entity: LegacyEntity): Promise<S3ExportSummary[]> {
    const table = options.tableNames[entity];
    const exportsDir = join(options.dir, table, 'AWSDynamoDB');
    const found = await stat(exportsDir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!found) {
      throw new MigrateError('SOURCE_UNAVAILABLE', `no exports of table ${table} (${entity}): ${exportsDir} is not a directory`, { details: { table, entity } });
    }
    return listS3Exports(options.dir, table);
  }

  async function windows(entity: LegacyEntity): Promise<ExportWindow[]> {
    const table = options.tableNames[entity];
    return (await summaries(entity))
      .filter((s) => s.kind === 'incremental')
      .map((summary) => ({ entity, table, id: summary.id, from: summary.exportFromTime!, to: summary.exportToTime!, outputView: summary.outputView!, summary }))
      .sort(byWindowOrder);
  }

  const source: IncrementalExportSource = {
    kind: 'export',
    async fullExportTime(entity) {
      const full = (await summaries(entity)).filter((s) => s.kind === 'full');
      return full.length === 1 ? full[0]!.exportTime : undefined;
    },
    windows,
    async plan(held) {
      const plan = planWindows(held.entity, held.time, await windows(held.entity));
      // Every file every window lists is there, with counts that add up, before anything is read.
      for (const window of plan.apply) plan.files.set(window.id, await exportDataFiles(options.dir, window.table, window.summary));
      return plan;
    },
    async *readChanges(plan, from) {
      for (const window of plan.apply) yield* readWindow(window, plan.files.get(window.id) ?? [], from, pageSize);
    },
    async *changes(from) {
      // Every table's windows are planned (and their files found) before the first change is read: a gap anywhere writes nothing.
      const plans: WindowPlan[] = [];
      for (const entity of LEGACY_ENTITIES) {
        const held = exportedThroughOf(from[entity]);
        if (held === undefined) {
          throw new MigrateError(
            'RUN_STATE',
            `the run recorded no point its ${options.tableNames[entity]} export was taken at (a full export in Export-to-S3 layout records its exportTime): ` +
              'incremental exports cannot be applied after it; start from a full export with its manifest-summary.json',
          );
        }
        plans.push(await source.plan({ entity, time: held.time }));
      }
      // Window by window across the tables (by exportFromTime): the target passes through the source's states in time order.
      const queue = plans.flatMap((plan) => plan.apply.map((window) => ({ plan, window })));
      queue.sort((a, b) => byWindowOrder(a.window, b.window) || LEGACY_ENTITIES.indexOf(a.plan.entity) - LEGACY_ENTITIES.indexOf(b.plan.entity));
      for (const { plan, window } of queue) yield* readWindow(window, plan.files.get(window.id) ?? [], from[plan.entity], pageSize);
    },
    async close() {},
  };
  return source;
}

