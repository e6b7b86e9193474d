import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMALL_FIXTURES } from '../support/fixtures.js';
import { CLI, scratchDir } from './cli-process.js';
import { createCliTarget, type CliTarget } from './cli-target.js';
import { missing } from '../support/prerequisites.js';

/**
 * The CLI on a real pseudo-terminal: a tmux server of its own (its own socket), the raw bytes
 * the program wrote (pipe-pane) and the screen a person would see at the end (capture-pane).
 */
class TmuxSession {
  readonly socket = `kpi-migrate-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  constructor(private readonly rawLog: string) {}

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TERM: 'xterm-256color' },
    });
  }

  /**
   * Starts `command` in a 200×120 pane, recording everything it writes from its first byte: tall
   * enough that the bars, the summary, finalize's lines and every check line fit on one screen.
   */
  start(command: string): void {
    // The command waits for a go-ahead, so the recording is in place before it writes anything.
    this.tmux('new-session', '-d', '-s', 'cli', '-x', '200', '-y', '120', `tmux -L ${this.socket} wait-for go; ${command}; echo "EXIT:$?"`);
    this.tmux('set-option', '-t', 'cli', 'remain-on-exit', 'on');
    this.tmux('pipe-pane', '-t', 'cli', '-o', `cat >> '${this.rawLog}'`);
    this.tmux('wait-for', '-S', 'go');
  }

  screen(): string {
    return this.tmux('capture-pane', '-t', 'cli', '-p', '-J');
  }

  /** Polls the screen (no timing is asserted: the test's own timeout bounds the wait). */
  async waitFor(pattern: RegExp): Promise<string> {
    for (;;) {
      const screen = this.screen();
      if (pattern.test(screen)) return screen;
      await sleep(200);
    }
  }

  type(text: string): void {
    this.tmux('send-keys', '-t', 'cli', '-l', text);
    this.tmux('send-keys', '-t', 'cli', 'Enter');
  }

  kill(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // already gone
    }
  }
}

const BAR_LINE = /^(Kpi|Person|GoalKpiLink|KpiMilestone|KpiActual|KpiReading) +(lookup|index|load) +\[/;

describe.skipIf(missing('tmux'))('on a terminal', () => {
  let target: CliTarget;
  let dir: string;
  let session: TmuxSession;

  beforeAll(async () => {
    try {
      execFileSync('tmux', ['-V']);
    } catch {
      throw new Error('this test drives the CLI on a pseudo-terminal with tmux: install it (apt-get install tmux; .ci/run does)');
    }
    target = await createCliTarget();
    dir = scratchDir('tty');
    writeFileSync(
      path.join(dir, 'kpi-migrate.config.json'),
      JSON.stringify({ environments: { prod: { protected: true, source: { kind: 'export', dir: path.join(SMALL_FIXTURES, 'export') }, batchRows: 20 } } }),
    );
    session = new TmuxSession(path.join(dir, 'raw.log'));
  });
  afterAll(async () => {
    session.kill();
    await target.drop();
  });

  it('asks before writing to a protected environment, draws live bars in place, and ends with the summary table', async () => {
    // KPI_MIGRATE_PROGRESS_MS=0 draws every update, so the number of frames does not depend on speed.
    const env = `env -i PATH='${process.env.PATH}' HOME='${dir}' TERM=xterm-256color NODE_NO_WARNINGS=1 KPI_MIGRATE_PROGRESS_MS=0 DATABASE_URL='${target.url}'`;
    session.start(`cd '${dir}' && ${env} '${process.execPath}' '${CLI}' run --env prod`);
    await session.waitFor(/Type the environment name \(prod\) to go on:/);
    session.type('prod');
    const screen = await session.waitFor(/^EXIT:\d+/m);
    expect(screen).toMatch(/^EXIT:0$/m);
    const raw = readFileSync(path.join(dir, 'raw.log'), 'utf8');

    // Live: the bars are redrawn in place (cursor up), KpiActual's through several figures.
    expect(raw).toMatch(/\x1b\[\d+A/);
    const actualFrames = [...raw.matchAll(/KpiActual +load +\[[█░]{20}\] +(\d+)% +read +(\d+)\/120 .*?(ETA \d+:\d\d|done in \d+:\d\d)/g)];
    const reads = actualFrames.map((m) => Number(m[2]));
    expect(new Set(reads).size).toBeGreaterThanOrEqual(3);
    expect(reads).toEqual([...reads].sort((a, b) => a - b));
    expect(actualFrames.some((m) => Number(m[1]) < 100 && m[3]!.startsWith('ETA'))).toBe(true);
    expect(actualFrames.at(-1)![1]).toBe('100');
    expect(actualFrames.at(-1)![3]).toMatch(/^done in/);

    // The screen at the end: one line per entity and phase (redrawn, not scrolled), all done,
    // then the summary table with its time and rate columns.
    const lines = screen.split('\n');
    const bars = lines.filter((line) => BAR_LINE.test(line));
    const keys = bars.map((line) => line.split(/ +/).slice(0, 2).join(' '));
    expect(new Set(keys).size).toBe(keys.length);
    // A fresh run indexes links while loading them; a resumed one takes an `index` pass first.
    expect(keys.filter((key) => key !== 'GoalKpiLink index')).toEqual([
      'Kpi lookup',
      'Person lookup',
      'GoalKpiLink load',
      'KpiMilestone load',
      'KpiActual load',
      'KpiReading load',
    ]);
    for (const bar of bars) expect(bar).toMatch(/done in \d+:\d\d$/);
    const header = lines.findIndex((line) => /^entity +read +migrated +rejected +skipped +rows +inserted +updated +unchanged +time +rate$/.test(line));
    expect(header).toBeGreaterThan(lines.indexOf(bars.at(-1)!));
    expect(lines[header + 2]).toMatch(/^Kpi +30 +30 +0 +0 +0 +0 +0 +0 +\d+\.\d s +[\d,]+\/s$/);
    expect(screen).toMatch(/^total +395 +372 +23 +0 +516 +516 +0 +0 +\d+\.\d s +[\d,]+\/s$/m);
    expect(screen).toMatch(/accounting: read = migrated \+ rejected \+ skipped for every table ✓/);
    expect(await target.runs()).toBe(1);
  });
});
