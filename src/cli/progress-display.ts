import type { EntityProgress, ProgressSink } from '../pipeline/progress.js';
import { log } from './output.js';

function rate(p: EntityProgress): number {
  const seconds = (Date.now() - p.startedAt) / 1000;
  return seconds > 0 ? Math.round(p.read / seconds) : 0;
}

function line(p: EntityProgress): string {
  const state = p.done ? 'done' : p.phase;
  return `${p.entity.padEnd(13)} ${state.padEnd(6)} read ${String(p.read).padStart(9)}  rows ${String(p.rowsOut).padStart(9)}  rejected ${String(p.rejected).padStart(6)}  ${String(rate(p)).padStart(7)}/s`;
}

/** Live lines on a terminal (redrawn in place), structured log lines at intervals otherwise. */
export function progressSinkFor(stream: NodeJS.WriteStream, intervalMs = 2000): ProgressSink {
  const latest = new Map<string, EntityProgress>();
  let lastDraw = 0;
  let drawnLines = 0;
  if (stream.isTTY) {
    return {
      update(progress) {
        latest.set(`${progress.entity}:${progress.phase}`, { ...progress });
        const now = Date.now();
        if (!progress.done && now - lastDraw < 100) return;
        lastDraw = now;
        const lines = [...latest.values()].map(line);
        stream.write(`${drawnLines > 0 ? `\x1b[${drawnLines}A` : ''}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
        drawnLines = lines.length;
      },
      message(text) {
        stream.write(`${text}\n`);
        drawnLines = 0;
      },
    };
  }
  const lastLogged = new Map<string, number>();
  return {
    update(progress) {
      const key = `${progress.entity}:${progress.phase}`;
      const now = Date.now();
      if (!progress.done && now - (lastLogged.get(key) ?? 0) < intervalMs) return;
      lastLogged.set(key, now);
      const { startedAt, ...figures } = progress;
      log.info({ event: 'progress', ...figures, itemsPerSecond: rate(progress), elapsedMs: now - startedAt });
    },
    message(text) {
      log.info({ event: 'message' }, text);
    },
  };
}
