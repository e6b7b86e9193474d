import path from 'node:path';
import { finalizeTarget, FOREIGN_KEY_NAME, LINK_DATE_INDEX_NAME } from '../src/load/finalize.js';
import { openPgClient } from '../src/db/pg-client.js';
import type { BenchDatabases } from './postgres.js';
import { rowCount, withClient } from './postgres.js';
import { packageRoot } from '../src/package-root.js';
import { runCli, runCliOk, runNode } from './processes.js';

export interface ExportRunFigures {
  seconds: number;
  /** kpi_links + kpi_data rows in the target after the run. */
  targetRows: number;
  peakRssBytes: number;
  /** CPU time of the run's process, every thread. */
  cpuSeconds: number;
  /** Source items the run read (every table, lookups included once: the ledger's `read`). */
  itemsRead: number;
  /** cpuSeconds per item read, in µs. */
  nodeCpuMicrosPerItem: number;
}

/** The lean floor: the export files read, parsed and written as COPY text to /dev/null (bench/lean-floor.ts). */
export interface LeanFloorFigures {
  seconds: number;
  items: number;
  cpuSeconds: number;
  cpuMicrosPerItem: number;
}

export interface RerunFigures {
  seconds: number;
  /** Rows the re-run inserted or updated: 0 when nothing changed, as the contract says. */
  rowsWritten: number;
}

export interface ValidateFigures {
  seconds: number;
  exitCode: number | null;
}

/** `run --converge` of state B (1% of records changed) into the target of state A. */
export interface ConvergeFigures {
  seconds: number;
  /** Rows the converge run inserted, updated and deleted. */
  rowsWritten: number;
}

export interface FinalizeFigures {
  /**
   * The application's case: the foreign key absent and the index missing, so finalize adds the
   * key NOT VALID, counts the orphans, validates it, builds the index CONCURRENTLY and computes
   * the progress cache; each step timed.
   */
  seconds: number;
  foreignKeySeconds: number;
  indexSeconds: number;
  cacheSeconds: number;
  cachedLinks: number;
  cachedGoals: number;
  /** Finalize again: nothing left to do. */
  againSeconds: number;
  againChanged: boolean;
}

export interface ExportRound {
  run: ExportRunFigures;
  rerun: RerunFigures;
  converge?: ConvergeFigures;
  finalize?: FinalizeFigures;
  validateSample?: ValidateFigures;
  validateFull?: ValidateFigures;
}

/** The run alone: its finalize and closing validation are what `finalize` and `validate` below measure on their own. */
export function exportRunArgs(exportDir: string, databaseUrl: string): string[] {
  return ['run', '--source', 'export', '--export-dir', exportDir, '--database-url', databaseUrl, '--no-finalize', '--no-validate'];
}

/** Finalize in this process (its steps' times come with its outcome), on the run's target with the key and index taken away. */
export async function measureFinalize(databaseUrl: string): Promise<FinalizeFigures> {
  await withClient(databaseUrl, async (client) => {
    await client.query(`alter table public.kpi_data drop constraint ${FOREIGN_KEY_NAME}`);
    await client.query(`drop index public.${LINK_DATE_INDEX_NAME}`);
  });
  const sql = openPgClient(databaseUrl);
  try {
    let started = performance.now();
    const first = await finalizeTarget(sql, 'public');
    const seconds = (performance.now() - started) / 1000;
    if (!first.foreignKey.validated || !first.index.created) throw new Error(`finalize did not add, validate and index as expected: ${JSON.stringify(first)}`);
    started = performance.now();
    const again = await finalizeTarget(sql, 'public');
    return {
      seconds,
      foreignKeySeconds: first.foreignKey.seconds,
      indexSeconds: first.index.seconds,
      cacheSeconds: first.progressCache.seconds,
      cachedLinks: first.progressCache.links.computed,
      cachedGoals: first.progressCache.goals.computed,
      againSeconds: (performance.now() - started) / 1000,
      againChanged: again.changed,
    };
  } finally {
    await sql.close();
  }
}

/** `kpi-migrate run --source export` end to end into a fresh database; the database is left for the caller. */
export async function measureExportRun(exportDir: string, databaseUrl: string): Promise<ExportRunFigures> {
  const figures = await runCliOk('export run', exportRunArgs(exportDir, databaseUrl));
  const targetRows = await withClient(databaseUrl, async (client) => (await rowCount(client, 'kpi_links')) + (await rowCount(client, 'kpi_data')));
  const itemsRead = await itemsReadByLastRun(databaseUrl);
  return {
    seconds: figures.seconds,
    targetRows,
    peakRssBytes: figures.peakRssBytes,
    cpuSeconds: figures.cpuSeconds,
    itemsRead,
    nodeCpuMicrosPerItem: (figures.cpuSeconds * 1e6) / itemsRead,
  };
}

async function itemsReadByLastRun(databaseUrl: string): Promise<number> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ read: string }>(
      `select coalesce(sum(read), 0)::text as read from kpi_migrate.run_counts where run_id = (select max(id) from kpi_migrate.runs)`,
    );
    return Number(rows[0]?.read ?? 0);
  });
}

const LEAN_FLOOR = path.join(packageRoot, 'dist', 'bench', 'lean-floor.js');

export async function measureLeanFloor(exportDir: string): Promise<LeanFloorFigures> {
  const figures = await runNode(LEAN_FLOOR, [exportDir]);
  if (figures.exitCode !== 0) throw new Error(`lean-floor exited ${figures.exitCode}\n${figures.stderr.slice(-3000)}`);
  const { items, seconds } = JSON.parse(figures.stdout) as { items: number; seconds: number };
  return { items, seconds, cpuSeconds: figures.cpuSeconds, cpuMicrosPerItem: (figures.cpuSeconds * 1e6) / items };
}

async function rowsWrittenByLastRun(databaseUrl: string): Promise<number> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ written: string }>(
      `select coalesce(sum(inserted + updated + deleted), 0)::text as written from kpi_migrate.run_counts
       where run_id = (select max(id) from kpi_migrate.runs)`,
    );
    return Number(rows[0]?.written ?? 0);
  });
}

/** Whether the built CLI has the `validate` command (it is registered separately). */
export async function validateAvailable(): Promise<boolean> {
  const help = await runCli(['validate', '--help']);
  return help.exitCode === 0 && help.stdout.includes('--full');
}

/**
 * One round at the default size: the run into a fresh database, the same run again (nothing
 * changes), finalize (the key and index taken away first) and finalize again, then validate (counts + a sample of 1,000) and validate --full, each timed.
 */
export async function measureExportRound(
  exportDir: string,
  databases: BenchDatabases,
  options: { validate: boolean; reportDir: string; keep?: (databaseUrl: string) => Promise<void>; changedDir?: string },
): Promise<ExportRound> {
  const databaseUrl = await databases.create('export');
  try {
    const run = await measureExportRun(exportDir, databaseUrl);
    await options.keep?.(databaseUrl);
    const again = await runCliOk('export re-run', exportRunArgs(exportDir, databaseUrl));
    const rerun = { seconds: again.seconds, rowsWritten: await rowsWrittenByLastRun(databaseUrl) };
    const finalize = await measureFinalize(databaseUrl);
    // Last: it changes the target the validations compare with state A.
    const converge = async (): Promise<ConvergeFigures | undefined> => {
      if (options.changedDir === undefined) return undefined;
      const figures = await runCliOk('export converge', [...exportRunArgs(options.changedDir, databaseUrl), '--converge', '--max-delete', '100%']);
      return { seconds: figures.seconds, rowsWritten: await rowsWrittenByLastRun(databaseUrl) };
    };
    if (!options.validate) return { run, rerun, finalize, converge: await converge() };
    const validate = async (full: boolean): Promise<ValidateFigures> => {
      const args = ['validate', '--source', 'export', '--export-dir', exportDir, '--database-url', databaseUrl, '--sample', '1000', '--seed', '1'];
      const report = path.join(options.reportDir, `validate-${full ? 'full' : 'sample'}-${Date.now()}.json`);
      const figures = await runCli([...args, ...(full ? ['--full'] : []), '--format', 'json', '--report', report]);
      // Exit 1 is a failed check, still a measured validation; 2 and 3 mean it did not run.
      if (figures.exitCode !== 0 && figures.exitCode !== 1) {
        throw new Error(`validate${full ? ' --full' : ''} exited ${figures.exitCode}\n${figures.stderr.slice(-3000)}`);
      }
      return { seconds: figures.seconds, exitCode: figures.exitCode };
    };
    const validateSample = await validate(false);
    const validateFull = await validate(true);
    return { run, rerun, finalize, validateSample, validateFull, converge: await converge() };
  } finally {
    await databases.drop(databaseUrl);
  }
}
