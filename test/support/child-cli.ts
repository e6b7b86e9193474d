import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../src/package-root.js';

/** The built CLI: `npm test` builds before it runs vitest; a bare `vitest` needs `npm run build` first. */
export const CLI_ENTRY = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

export interface CliOutcome {
  /** The exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  readonly child: ChildProcess;
  /** Settles when the process has exited and its output is complete; never rejects. */
  readonly exited: Promise<CliOutcome>;
  /** Whether the process is still running. */
  running(): boolean;
  /** Sends a signal (default SIGKILL) if the process still runs; resolves with its outcome. */
  kill(signal?: NodeJS.Signals): Promise<CliOutcome>;
}

export interface CliOptions {
  /** Added to a clean environment (PATH, HOME, and no DATABASE_URL or AWS settings inherited). */
  env?: Record<string, string>;
  /** Default: a scratch directory of this test process (see scratchWorkingDirectory). */
  cwd?: string;
}

let scratchCwd: string | undefined;

/**
 * Where a child CLI runs unless told otherwise: what it writes relative to its working
 * directory (every run's report under .kpi-migrate/reports, the default PGlite) stays out of the
 * repository. Arguments must therefore be absolute paths.
 */
export function scratchWorkingDirectory(): string {
  scratchCwd ??= mkdtempSync(path.join(tmpdir(), 'kpi-cli-cwd-'));
  return scratchCwd;
}

export function assertCliBuilt(): void {
  if (!existsSync(CLI_ENTRY)) throw new Error(`${CLI_ENTRY} is missing: run \`npm run build\` before these tests (\`npm test\` does)`);
}

/**
 * Starts `node dist/src/cli/main.js <args>` as a child process. Its environment is built from
 * scratch so that nothing from the test's shell (a DATABASE_URL, AWS keys) changes what it does.
 */
export function startCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  assertCliBuilt();
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
    cwd: options.cwd ?? scratchWorkingDirectory(),
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // pg's notice about future sslmode semantics is noise here; tests that care read stderr for errors.
      NODE_NO_WARNINGS: '1',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<CliOutcome>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, stdout, stderr: `${stderr}\n(spawn failed: ${error.message})` }));
    // 'close' rather than 'exit': the output pipes are drained by then.
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    exited,
    running,
    async kill(signal = 'SIGKILL') {
      if (running()) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to its end. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliOutcome> {
  return startCli(args, options).exited;
}

/** A one-line description of an outcome for assertion messages. */
export function describeOutcome(outcome: CliOutcome): string {
  const how = outcome.signal ? `killed by ${outcome.signal}` : `exit ${outcome.code}`;
  return `${how}\n--- stderr (last 2000 chars) ---\n${outcome.stderr.slice(-2000)}\n--- stdout (last 2000 chars) ---\n${outcome.stdout.slice(-2000)}`;
}
