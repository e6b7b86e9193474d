import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../src/package-root.js';

/** The built CLI, run as the operator runs it: its own process, so its RSS is its own. */
export const CLI = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

export interface ProcessFigures {
  exitCode: number | null;
  seconds: number;
  /** Peak resident set size (VmHWM) of the process, in bytes; 0 where /proc is not there to read. */
  peakRssBytes: number;
  /** CPU time of the whole process (every thread, user + system), in seconds; NaN if it did not say. */
  cpuSeconds: number;
  stdout: string;
  stderr: string;
}

const RSS_POLL_MS = 50;

/** The kernel's own high-water mark of the process's resident set, which never goes down. */
async function peakRss(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * Runs `kpi-migrate <args>` to its end and measures it: wall time from spawn to exit, and the
 * peak RSS read from /proc/<pid>/status (VmHWM) every 50 ms while it runs — the last reading
 * before exit is the peak, give or take what the last 50 ms added.
 */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ProcessFigures> {
  return runNode(CLI, args, env);
}

/** Preloaded into every measured process: it reports the process's own CPU time at exit. */
const CPU_USAGE_PRELOAD = pathToFileURL(path.join(packageRoot, 'dist', 'bench', 'cpu-usage.js')).href;

async function cpuSecondsIn(file: string): Promise<number> {
  try {
    const { userMicros, systemMicros } = JSON.parse(await readFile(file, 'utf8')) as { userMicros: number; systemMicros: number };
    return (userMicros + systemMicros) / 1e6;
  } catch {
    return Number.NaN;
  }
}

/** Like runCli, for any built script of the project. */
export async function runNode(script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ProcessFigures> {
  const cpuDir = await mkdtemp(path.join(tmpdir(), 'kpi-migrate-bench-cpu-'));
  const cpuFile = path.join(cpuDir, 'cpu.json');
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', CPU_USAGE_PRELOAD, script, ...args], {
    cwd: packageRoot,
    env: { ...process.env, NO_COLOR: '1', ...env, KPI_MIGRATE_BENCH_CPU_FILE: cpuFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  // Progress lines are many; only the end matters when something fails.
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
  let peak = 0;
  const poll = setInterval(() => {
    if (child.pid !== undefined) void peakRss(child.pid).then((bytes) => (peak = Math.max(peak, bytes ?? 0)));
  }, RSS_POLL_MS);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  }).finally(() => clearInterval(poll));
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = await cpuSecondsIn(cpuFile);
  await rm(cpuDir, { recursive: true, force: true });
  return { exitCode, seconds, peakRssBytes: peak, cpuSeconds, stdout, stderr };
}

/** Like runCli, and fails with the tool's own words when it does not exit 0. */
export async function runCliOk(what: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ProcessFigures> {
  const figures = await runCli(args, env);
  if (figures.exitCode !== 0) {
    throw new Error(`${what}: kpi-migrate ${args[0]} exited ${figures.exitCode}\n${figures.stdout.slice(-3000)}\n${figures.stderr.slice(-3000)}`);
  }
  return figures;
}
