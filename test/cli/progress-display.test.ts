import { describe, expect, it } from 'vitest';
import { createProgressDisplay, formatDuration } from '../../src/cli/progress-display.js';
import type { EntityProgress } from '../../src/pipeline/progress.js';

function fakeTerminal(columns = 200) {
  const writes: string[] = [];
  const stream = { isTTY: true, columns, write: (chunk: string) => writes.push(chunk) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, writes, lastFrame: () => writes.at(-1) ?? '' };
}

const progressOf = (entity: EntityProgress['entity'], phase: EntityProgress['phase'], figures: Partial<EntityProgress>): EntityProgress => ({
  entity,
  phase,
  read: 0,
  migrated: 0,
  rejected: 0,
  skipped: 0,
  rowsOut: 0,
  inserted: 0,
  updated: 0,
  unchanged: 0,
  startedAt: Date.now() - 10_000,
  done: false,
  ...figures,
});

/** Lines of a frame without the cursor movements and line clears. */
const plain = (frame: string) => frame.replace(/\x1b\[\d*[A-Z]/g, '').replace(/\r/g, '').split('\n').filter(Boolean);

describe('the terminal progress display', () => {
  it('draws a bar with percentage and ETA when the total is known, and redraws in place', () => {
    const tty = fakeTerminal();
    const display = createProgressDisplay(tty.stream, { intervalMs: 0, refreshMs: 1e9 });
    display.setTotals({ KpiActual: { items: 1000, exact: true } });
    display.update(progressOf('KpiActual', 'load', { read: 250, rowsOut: 400, rejected: 3 }));
    const [first] = plain(tty.lastFrame());
    expect(first).toMatch(/^KpiActual +load +\[█████░{15}\] +25% +read +250\/1,000 +rows +400 +rejected +3 +\d+\/s +ETA 0:\d\d$/);
    display.update(progressOf('KpiActual', 'load', { read: 1000, rowsOut: 1600, rejected: 9, done: true }));
    expect(tty.lastFrame().startsWith('\x1b[1A')).toBe(true);
    expect(plain(tty.lastFrame())[0]).toMatch(/\[█{20}\] +100% +read +1,000\/1,000 .* done in 0:1\d$/);
    display.finish();
  });

  it('marks an estimated total, shows elapsed time without one, and keeps lines inside the terminal', () => {
    const tty = fakeTerminal(60);
    const display = createProgressDisplay(tty.stream, { intervalMs: 0, refreshMs: 1e9 });
    display.setTotals({ Kpi: { items: 100, exact: false } });
    display.update(progressOf('Kpi', 'lookup', { read: 150 }));
    display.update(progressOf('Person', 'lookup', { read: 7 }));
    const lines = plain(tty.lastFrame());
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(59);
    display.finish();
    const wide = fakeTerminal();
    const again = createProgressDisplay(wide.stream, { intervalMs: 0, refreshMs: 1e9 });
    again.setTotals({ Kpi: { items: 100, exact: false } });
    again.update(progressOf('Kpi', 'lookup', { read: 150 }));
    again.update(progressOf('Person', 'lookup', { read: 7 }));
    const [kpi, person] = plain(wide.lastFrame());
    // Past an estimate (DynamoDB's ItemCount lags) it stays short of 100% until done.
    expect(kpi).toMatch(/ 99% +read +150\/~100 .* ETA ~0:00$/);
    expect(person).toMatch(/\[·{20}\] +read +7 .* 0:1\d elapsed$/);
    again.finish();
  });

  it('draws at most once per interval, but always a phase’s end, and what finish() finds undrawn', () => {
    const tty = fakeTerminal();
    const display = createProgressDisplay(tty.stream, { intervalMs: 1e9, refreshMs: 1e9 });
    for (let read = 1; read <= 50; read += 1) display.update(progressOf('KpiReading', 'load', { read }));
    expect(tty.writes).toHaveLength(1);
    display.update(progressOf('KpiReading', 'load', { read: 51, done: true }));
    expect(tty.writes).toHaveLength(2);
    expect(plain(tty.lastFrame())[0]).toMatch(/read +51 /);
    display.update(progressOf('KpiActual', 'load', { read: 7 }));
    display.update(progressOf('KpiActual', 'load', { read: 8 }));
    expect(tty.writes).toHaveLength(2);
    display.finish();
    expect(tty.writes).toHaveLength(3);
    expect(plain(tty.lastFrame())[1]).toMatch(/^KpiActual .* read +8 /);
    // Finished: nothing more is drawn, not even a copy of the bars under later output.
    display.update(progressOf('KpiActual', 'load', { read: 9 }));
    display.finish();
    expect(tty.writes).toHaveLength(3);
  });

  it('adds up each table’s time over its phases and counts its items once, for the summary', () => {
    const display = createProgressDisplay(fakeTerminal().stream, { intervalMs: 0, refreshMs: 1e9 });
    const start = Date.now() - 4000;
    display.update(progressOf('GoalKpiLink', 'index', { read: 48, startedAt: start, done: true }));
    display.update(progressOf('GoalKpiLink', 'load', { read: 48, startedAt: start, done: true }));
    display.finish();
    const timing = display.timings().GoalKpiLink!;
    expect(timing.itemsRead).toBe(48);
    expect(timing.seconds).toBeGreaterThanOrEqual(8);
  });

  it('passes what it writes on the terminal through the same redaction as every other output', () => {
    const secret = 'tty-S3cret-9931';
    const before = process.env.DATABASE_URL;
    process.env.DATABASE_URL = `postgres://migrator:${secret}@db.example/kpi`;
    try {
      const tty = fakeTerminal();
      const display = createProgressDisplay(tty.stream, { intervalMs: 0, refreshMs: 1e9 });
      display.update(progressOf('KpiActual', 'load', { read: 5 }));
      display.message?.(`validating: target postgres://migrator:${secret}@db.example/kpi`);
      display.message?.(`waiting for other workers of run ${secret}`);
      display.update(progressOf('KpiActual', 'load', { read: 6, done: true }));
      display.finish();
      const written = tty.writes.join('');
      expect(written).toContain('validating: target postgres://migrator:*****@db.example/kpi');
      expect(written).toContain('waiting for other workers of run *****');
      expect(written).toMatch(/KpiActual +load .* read +6 /);
      expect(written).not.toContain(secret);
    } finally {
      if (before === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = before;
    }
  });

  it('formats durations as m:ss and h:mm:ss', () => {
    expect([formatDuration(0), formatDuration(59.6), formatDuration(61), formatDuration(3 * 3600 + 62)]).toEqual(['0:00', '1:00', '1:01', '3:01:02']);
  });
});
