import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** What some suites need beyond Node and Java (the global setup gives them a PostgreSQL server). */
export type Prerequisite = 'postgres-server' | 'tmux' | 'chromium';

export const CHROMIUM = '/usr/bin/chromium';

/** The programs the suites run, checked once in the global setup. */
export function missingPrograms(): Partial<Record<Prerequisite, string>> {
  const out: Partial<Record<Prerequisite, string>> = {};
  if (spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status !== 0) out.tmux = 'tmux is not installed (apt-get install tmux)';
  if (!existsSync(CHROMIUM)) out.chromium = `${CHROMIUM} is absent (apt-get install chromium)`;
  return out;
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(file);
    return entry.name.endsWith('.test.ts') ? [file] : [];
  });
}

/**
 * One line naming every suite that will be skipped here and why: the test files that ask for a
 * missing prerequisite (`missing('…')`). Undefined when nothing is missing.
 */
export function skippedSuitesLine(root: string, missingNow: Partial<Record<Prerequisite, string>>): string | undefined {
  const entries = Object.entries(missingNow) as [Prerequisite, string][];
  if (entries.length === 0) return undefined;
  const parts: string[] = [];
  for (const [prerequisite, why] of entries) {
    const marker = `missing('${prerequisite}')`;
    const files = testFiles(path.join(root, 'test')).filter((file) => readFileSync(file, 'utf8').includes(marker));
    if (files.length > 0) parts.push(`${files.map((file) => path.relative(root, file)).join(', ')}: ${why}`);
  }
  return parts.length === 0 ? undefined : `kpi-migrate tests: SKIPPED here (in whole or part): ${parts.join('; ')}`;
}
