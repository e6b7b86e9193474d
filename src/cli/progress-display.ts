import type { EntityProgress, ProgressSink } from '../pipeline/progress.js';
import type { LegacyEntity } from '../model/entities.js';
import { log, redactSecrets } from './output.js';

/** Items per table, when the source can tell without reading it; `exact: false` for estimates. */
export type EntityTotals = Partial<Record<LegacyEntity, { items: number; exact: boolean }>>;

/** What this process spent on a table (every phase), and the items it read of it. */
export interface EntityTiming {
  seconds: number;
  itemsRead: number;
}
export type EntityTimings = Partial<Record<LegacyEntity, EntityTiming>>;

export interface ProgressDisplay extends ProgressSink {
  /** Totals, once known, turn the lines into bars with a percentage and an ETA. */
  setTotals(totals: EntityTotals): void;
  /** Stops the redraw timer and draws the final state; call before printing the summary. */
  finish(): void;
  timings(): EntityTimings;
}

export interface ProgressDisplayOptions {
  /** Least time between two redraws on a terminal (default 100 ms), or two log lines of a phase (2 s). */
  intervalMs?: number;
  /** Redraw on a terminal at least this often, so rates and ETAs move between batches (default 500 ms). */
  refreshMs?: number;
}

const BAR_WIDTH = 20;

interface PhaseState {
  progress: EntityProgress;
  finishedAt: number | undefined;
}

const count = (n: number): string => n.toLocaleString('en-US');

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

function elapsedSeconds(state: PhaseState, now: number): number {
  return Math.max(0, ((state.finishedAt ?? now) - state.progress.startedAt) / 1000);
}

function itemsPerSecond(state: PhaseState, now: number): number {
  const seconds = elapsedSeconds(state, now);
  return seconds > 0 ? state.progress.read / seconds : 0;
}

/** Percent done, seconds left and how to print the total; undefined without a total. */
function estimate(state: PhaseState, total: { items: number; exact: boolean } | undefined, now: number) {
  if (total === undefined) return undefined;
  const p = state.progress;
  // An estimated total (DynamoDB's ItemCount lags) can be passed: stay short of 100% until done.
  const fraction = p.done ? 1 : total.items > 0 ? Math.min(0.99, p.read / total.items) : 0;
  const rate = itemsPerSecond(state, now);
  const left = p.done ? 0 : rate > 0 ? Math.max(0, total.items - p.read) / rate : undefined;
  return { fraction, left, total: `${total.exact ? '' : '~'}${count(total.items)}`, approximate: !total.exact };
}

function bar(fraction: number | undefined): string {
  if (fraction === undefined) return `[${'·'.repeat(BAR_WIDTH)}]`;
  const full = Math.round(fraction * BAR_WIDTH);
  return `[${'█'.repeat(full)}${'░'.repeat(BAR_WIDTH - full)}]`;
}

function terminalLine(state: PhaseState, total: { items: number; exact: boolean } | undefined, now: number): string {
  const p = state.progress;
  const e = estimate(state, total, now);
  const percent = e === undefined ? '    ' : `${String(Math.floor(e.fraction * 100)).padStart(3)}%`;
  const read = e === undefined ? count(p.read) : `${count(p.read)}/${e.total}`;
  const tail = p.done
    ? `done in ${formatDuration(elapsedSeconds(state, now))}`
    : e?.left === undefined
      ? `${formatDuration(elapsedSeconds(state, now))} elapsed`
      : `ETA ${e.approximate ? '~' : ''}${formatDuration(e.left)}`;
  return [
    p.entity.padEnd(12),
    p.phase.padEnd(6),
    bar(e?.fraction),
    percent,
    `read ${read.padStart(9)}`,
    `rows ${count(p.rowsOut).padStart(9)}`,
    `rejected ${count(p.rejected).padStart(6)}`,
    `${count(Math.round(itemsPerSecond(state, now))).padStart(8)}/s`,
    tail,
  ].join('  ');
}

/**
 * Live bars on a terminal, redrawn in place; structured log lines (pino JSON) at intervals
 * otherwise. Either way the figures are the runner's, per entity and phase.
 */
export function createProgressDisplay(stream: NodeJS.WriteStream, options: ProgressDisplayOptions = {}): ProgressDisplay {
  const phases = new Map<string, PhaseState>();
  let totals: EntityTotals = {};
  const track = (progress: Readonly<EntityProgress>, now: number): PhaseState => {
    const key = `${progress.entity}:${progress.phase}`;
    const state = phases.get(key) ?? { progress: { ...progress }, finishedAt: undefined };
    state.progress = { ...progress };
    if (progress.done && state.finishedAt === undefined) state.finishedAt = now;
    phases.set(key, state);
    return state;
  };
  const timings = (): EntityTimings => {
    const out: EntityTimings = {};
    const now = Date.now();
    for (const state of phases.values()) {
      const entity = state.progress.entity;
      const before = out[entity] ?? { seconds: 0, itemsRead: 0 };
      // Links are read twice (index, then load): the table's items count once.
      out[entity] = { seconds: before.seconds + elapsedSeconds(state, now), itemsRead: Math.max(before.itemsRead, state.progress.read) };
    }
    return out;
  };

  if (stream.isTTY) {
    const intervalMs = options.intervalMs ?? 100;
    let lastDraw = 0;
    let drawnLines = 0;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    // Figures not on screen yet; once every phase is done and drawn, lines printed after the
    // bars (the demo's next step) must not get a copy of them below.
    let undrawn = false;
    const draw = () => {
      const now = Date.now();
      lastDraw = now;
      undrawn = false;
      const width = Math.max(20, (stream.columns ?? 120) - 1);
      // A line wider than the terminal wraps, and moving up by drawnLines would then miss.
      const lines = [...phases.values()].map((s) => terminalLine(s, totals[s.progress.entity], now).slice(0, width));
      stream.write(redactSecrets(`${drawnLines > 0 ? `\x1b[${drawnLines}A` : ''}${lines.map((l) => `\r\x1b[2K${l}`).join('\n')}\n`));
      drawnLines = lines.length;
    };
    return {
      update(progress) {
        if (finished) return;
        const now = Date.now();
        track(progress, now);
        undrawn = true;
        timer ??= setInterval(() => {
          if (undrawn || [...phases.values()].some((s) => !s.progress.done)) draw();
        }, options.refreshMs ?? 500).unref();
        if (progress.done || now - lastDraw >= intervalMs) draw();
      },
      message(text) {
        stream.write(redactSecrets(`${text}\n`));
        drawnLines = 0;
      },
      setTotals(next) {
        totals = { ...totals, ...next };
      },
      finish() {
        if (finished) return;
        finished = true;
        if (timer !== undefined) clearInterval(timer);
        if (undrawn) draw();
      },
      timings,
    };
  }

  const intervalMs = options.intervalMs ?? 2000;
  const lastLogged = new Map<string, number>();
  return {
    update(progress) {
      const now = Date.now();
      const state = track(progress, now);
      const key = `${progress.entity}:${progress.phase}`;
      if (!progress.done && now - (lastLogged.get(key) ?? 0) < intervalMs) return;
      lastLogged.set(key, now);
      const p = progress;
      const e = estimate(state, totals[p.entity], now);
      // Named fields only: a runner may pass a richer object (ids of refused records, …).
      log.info({
        event: 'progress',
        entity: p.entity,
        phase: p.phase,
        read: p.read,
        migrated: p.migrated,
        rejected: p.rejected,
        skipped: p.skipped,
        rowsOut: p.rowsOut,
        inserted: p.inserted,
        updated: p.updated,
        unchanged: p.unchanged,
        done: p.done,
        itemsPerSecond: Math.round(itemsPerSecond(state, now)),
        elapsedMs: now - p.startedAt,
        ...(e === undefined ? {} : { total: totals[progress.entity]!.items, totalExact: !e.approximate, percent: Math.floor(e.fraction * 100), etaSeconds: e.left === undefined ? null : Math.round(e.left) }),
      });
    },
    message(text) {
      log.info({ event: 'message' }, text);
    },
    setTotals(next) {
      totals = { ...totals, ...next };
    },
    finish() {},
    timings,
  };
}

/** How often progress is drawn or logged: KPI_MIGRATE_PROGRESS_MS overrides the defaults. */
export function progressDisplayFor(stream: NodeJS.WriteStream = process.stderr): ProgressDisplay {
  const setting = process.env.KPI_MIGRATE_PROGRESS_MS;
  const intervalMs = setting === undefined || setting.trim() === '' ? Number.NaN : Number(setting);
  return createProgressDisplay(stream, Number.isFinite(intervalMs) && intervalMs >= 0 ? { intervalMs } : {});
}
