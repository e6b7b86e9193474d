import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { runCounts, type EntityRunCounts } from '../../src/load/ledger.js';
import type { SqlSession } from '../../src/db/sql-client.js';
import { seed, type SeedResult } from '../../src/seed/index.js';
import { LEGACY_ENTITIES, MIGRATED_ENTITIES, type LegacyEntity } from '../../src/model/entities.js';
import { runCli, describeOutcome, type CliOutcome } from '../support/child-cli.js';
import { targetRows } from '../support/target-rows.js';

export async function temporaryDirectory(label: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `kpi-migrate-${label}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * An export data set of many small flat files: a file is a partition, so pages end at file ends
 * and a run commits many batches (with --batch-rows 40, about one per file).
 */
export async function seedManyFiles(out: string, options: { items: number; seed: number; itemsPerFile: number }): Promise<SeedResult> {
  return seed({ items: options.items, seed: options.seed, format: 'export', out, layout: 'flat', itemsPerFile: options.itemsPerFile });
}

export function exportRunArgs(exportDir: string, databaseUrl: string, ...extra: string[]): string[] {
  return ['run', '--source', 'export', '--export-dir', exportDir, '--database-url', databaseUrl, '--batch-rows', '40', ...extra];
}

/** The figures of a run that must not depend on how often it was interrupted. */
export type Accounting = Record<string, Pick<EntityRunCounts, 'read' | 'migrated' | 'rejected' | 'skipped' | 'rowsOut' | 'inserted' | 'updated' | 'unchanged' | 'rejectsByReason'>>;

export async function accountingOf(sql: SqlSession, runId: string): Promise<Accounting> {
  const counts = await runCounts(sql, runId);
  const out: Accounting = {};
  for (const entity of LEGACY_ENTITIES) {
    const c = counts.entities[entity];
    if (c === undefined) continue;
    out[entity] = {
      read: c.read,
      migrated: c.migrated,
      rejected: c.rejected,
      skipped: c.skipped,
      rowsOut: c.rowsOut,
      inserted: c.inserted,
      updated: c.updated,
      unchanged: c.unchanged,
      rejectsByReason: c.rejectsByReason,
    };
  }
  return out;
}

/** read = migrated + rejected + skipped, and rejected = the rejects kept, for every table. */
export function expectBalanced(accounting: Accounting): void {
  for (const entity of LEGACY_ENTITIES) {
    const c = accounting[entity];
    expect(c, `${entity} has counts`).toBeDefined();
    expect(c!.read, `${entity}: read = migrated + rejected + skipped`).toBe(c!.migrated + c!.rejected + c!.skipped);
    const kept = Object.values(c!.rejectsByReason).reduce((sum, n) => sum + (n ?? 0), 0);
    expect(kept, `${entity}: every rejected record is kept with a reason`).toBe(c!.rejected);
  }
}

export async function runIds(sql: SqlSession): Promise<string[]> {
  const { rows } = await sql.query<{ id: string }>('select id::text as id from kpi_migrate.runs order by id');
  return rows.map((r) => r.id);
}

export async function runStatus(sql: SqlSession, runId: string): Promise<string> {
  const { rows } = await sql.query<{ status: string }>('select status from kpi_migrate.runs where id = $1::bigint', [runId]);
  return rows[0]?.status ?? 'missing';
}

/** Source records of the migrated tables counted as read by committed batches so far. */
export async function committedReads(sql: SqlSession): Promise<number> {
  const { rows } = await sql.query<{ n: string }>(
    `select coalesce(sum(read), 0)::text as n from kpi_migrate.run_counts where entity = any($1::text[])`,
    [`{${MIGRATED_ENTITIES.join(',')}}`],
  );
  return Number(rows[0]!.n);
}

/** Polls until `check` returns a value (not undefined), or the child it watches has ended. */
export async function pollUntil<T>(check: () => Promise<T | undefined>, stillRunning: () => boolean, intervalMs = 5): Promise<T | undefined> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (!stillRunning()) return undefined;
    await sleep(intervalMs);
  }
}

/** `run --resume RUN_ID` until the run completes (each attempt must end with exit 0). */
export async function resumeToCompletion(args: string[], runId: string): Promise<CliOutcome> {
  const outcome = await runCli([...args, '--resume', runId]);
  expect(outcome.code, `resume of run ${runId}: ${describeOutcome(outcome)}`).toBe(0);
  return outcome;
}

export interface TargetSnapshot {
  rows: Awaited<ReturnType<typeof targetRows>>;
  accounting: Accounting;
  rejects: string[];
}

/** Rows of both target tables, the run's accounting, and its rejects (entity, source id, reason). */
export async function snapshot(sql: SqlSession, runId: string): Promise<TargetSnapshot> {
  const { rows } = await sql.query<{ k: string }>(
    `select source_entity || ' ' || coalesce(source_id, '∅') || ' ' || reason || ' ' || coalesce(attribute, '∅') as k
       from kpi_migrate.rejects where run_id = $1::bigint order by 1`,
    [runId],
  );
  return { rows: await targetRows(sql), accounting: await accountingOf(sql, runId), rejects: rows.map((r) => r.k) };
}

/** Per migrated entity: the rows in the target equal what the committed counts say was written. */
export async function expectRowsMatchCommittedCounts(sql: SqlSession, runId: string): Promise<void> {
  const accounting = await accountingOf(sql, runId);
  const { rows } = await sql.query<{ source_entity: string; n: string }>(
    `select source_entity, count(*)::text as n from (
       select source_entity from public.kpi_links union all select source_entity from public.kpi_data) r group by 1`,
  );
  const inTarget = Object.fromEntries(rows.map((r) => [r.source_entity, Number(r.n)]));
  for (const entity of MIGRATED_ENTITIES) {
    expect(inTarget[entity] ?? 0, `${entity}: rows in the target = rows_out committed`).toBe(accounting[entity]?.rowsOut ?? 0);
  }
}

/** Items per flat file partition, as the checkpoints say: line reached, and whether it is done. */
export async function checkpointsOf(sql: SqlSession, runId: string, entity: LegacyEntity): Promise<Map<string, { line: number; done: boolean }>> {
  const { rows } = await sql.query<{ partition: string; line: string | null; done: boolean }>(
    `select partition, position ->> 'line' as line, done from kpi_migrate.checkpoints where run_id = $1::bigint and entity = $2`,
    [runId, entity],
  );
  return new Map(rows.map((r) => [r.partition, { line: Number(r.line ?? 0), done: r.done }]));
}
