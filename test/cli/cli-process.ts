import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../src/package-root.js';
import { scratchWorkingDirectory } from '../support/child-cli.js';

/** The built CLI, as `npm test` leaves it (it builds before vitest runs); `npm run build` for a bare vitest. */
export const CLI = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `kpi-migrate <args>` in a child process, its environment built from scratch (PATH and HOME,
 * plus `env`) so nothing of the test's shell changes what it does; by default in a scratch
 * directory, so that its reports stay out of the repository (arguments are absolute paths).
 */
export function cli(args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (\`npm test\` does)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? scratchWorkingDirectory(),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', NODE_NO_WARNINGS: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export function scratchDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `kpi-cli-${prefix}-`));
}

export const show = (r: CliResult): string => `exit ${r.code}\n--- stderr ---\n${r.stderr.slice(-3000)}\n--- stdout ---\n${r.stdout.slice(-3000)}`;
