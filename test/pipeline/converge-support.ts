import { expect } from 'vitest';
import { writeDynamoDbExport } from '../../src/extract/export-writer.js';
import type { SqlSession } from '../../src/db/sql-client.js';
import type { AttributeMap } from '../../src/seed/index.js';
import type { SourceChange } from '../../src/seed/changes.js';
import { LEGACY_ENTITIES, defaultTableNames, type LegacyEntity } from '../../src/model/entities.js';
import { describeOutcome, runCli, type CliOutcome } from '../support/child-cli.js';

/**
 * What the convergence tests (contract §5) compare: the target rows, every column but the run
 * columns, and the reject set of a run.
 */

export const TABLE_NAMES = defaultTableNames();

export async function writeTables(dir: string, tables: Record<LegacyEntity, AttributeMap[]>): Promise<void> {
  await writeDynamoDbExport(
    dir,
    LEGACY_ENTITIES.map((entity) => ({ table: TABLE_NAMES[entity], items: tables[entity], layout: 'flat' as const })),
    { exportTime: new Date('2024-02-01T00:00:00Z') },
  );
}

export function runArgs(exportDir: string, databaseUrl: string, ...extra: string[]): string[] {
  return ['run', '--source', 'export', '--export-dir', exportDir, '--database-url', databaseUrl, '--batch-rows', '150', ...extra];
}

export async function cli(args: string[], expectedCode = 0): Promise<CliOutcome> {
  const outcome = await runCli(args);
  expect(outcome.code, `${args.slice(0, 2).join(' ')} … ${args.slice(8).join(' ')}: ${describeOutcome(outcome)}`).toBe(expectedCode);
  return outcome;
}

export async function latestRunId(sql: SqlSession): Promise<string> {
  const { rows } = await sql.query<{ id: string }>('select max(id)::text as id from kpi_migrate.runs');
  return rows[0]!.id;
}

/** A table's rows by id, as JSON text: every column, or every column but first_run_id and last_run_id. */
export type TableRows = Map<string, string>;
export interface Target {
  kpi_links: TableRows;
  kpi_data: TableRows;
}

/**
 * Every column of both target tables (whatever columns they have), by id. `withRunColumns`
 * false drops first_run_id and last_run_id: a converged target and a fresh one legitimately
 * differ in which run wrote a row.
 */
export async function targetOf(sql: SqlSession, withRunColumns: boolean): Promise<Target> {
  const table = async (name: 'kpi_links' | 'kpi_data'): Promise<TableRows> => {
    const json = withRunColumns ? 'to_jsonb(t)' : `to_jsonb(t) - 'first_run_id' - 'last_run_id'`;
    const { rows } = await sql.query<{ id: string; row: string }>(`select id::text as id, (${json})::text as row from public.${name} t order by id`);
    return new Map(rows.map((r) => [r.id, r.row]));
  };
  return { kpi_links: await table('kpi_links'), kpi_data: await table('kpi_data') };
}

export function withoutIds(target: Target, ids: ReadonlySet<string>): Target {
  const keep = (rows: TableRows) => new Map([...rows].filter(([id]) => !ids.has(id)));
  return { kpi_links: keep(target.kpi_links), kpi_data: keep(target.kpi_data) };
}

export interface RowDifference {
  table: string;
  id: string;
  /** missing: expected but absent; extra: present but not expected; changed: columns differ. */
  how: 'missing' | 'extra' | 'changed';
  source: string;
  columns?: string[];
  /** The changes of B whose witnesses include this row's record. */
  changes: string[];
}

/** Differences between two targets, each named by its record and the changes that concern it. */
export function targetDifferences(actual: Target, expected: Target, changes: readonly SourceChange[] = []): RowDifference[] {
  const out: RowDifference[] = [];
  const concerning = (row: string) => {
    const parsed = JSON.parse(row) as Record<string, unknown>;
    const source = `${String(parsed.source_entity)} ${String(parsed.source_id)}`;
    const kinds = changes.filter((c) => c.witnesses.some((w) => w.entity === parsed.source_entity && w.id === parsed.source_id)).map((c) => `${c.kind}(${c.entity})`);
    return { source, changes: kinds };
  };
  for (const table of ['kpi_links', 'kpi_data'] as const) {
    for (const [id, row] of expected[table]) {
      const other = actual[table].get(id);
      if (other === undefined) out.push({ table, id, how: 'missing', ...concerning(row) });
      else if (other !== row) {
        const a = JSON.parse(other) as Record<string, unknown>;
        const e = JSON.parse(row) as Record<string, unknown>;
        const columns = [...new Set([...Object.keys(a), ...Object.keys(e)])].filter((c) => JSON.stringify(a[c]) !== JSON.stringify(e[c]));
        out.push({ table, id, how: 'changed', columns: columns.map((c) => `${c}: ${JSON.stringify(a[c])} ≠ expected ${JSON.stringify(e[c])}`), ...concerning(row) });
      }
    }
    for (const [id, row] of actual[table]) if (!expected[table].has(id)) out.push({ table, id, how: 'extra', ...concerning(row) });
  }
  return out;
}

/** Asserts two targets equal, listing (up to 15) differing rows with their records and changes. */
export function expectSameTarget(actual: Target, expected: Target, label: string, changes: readonly SourceChange[] = []): void {
  const differences = targetDifferences(actual, expected, changes);
  expect(differences.slice(0, 15), `${label}: ${differences.length} row(s) differ`).toEqual([]);
  expect(actual.kpi_links.size, `${label}: kpi_links rows`).toBe(expected.kpi_links.size);
  expect(actual.kpi_data.size, `${label}: kpi_data rows`).toBe(expected.kpi_data.size);
}

/** The run's rejects as "entity id reason", and the raw TenantId of each (for tenant filters). */
export async function rejectsOf(sql: SqlSession, runId: string): Promise<{ key: string; tenantId: unknown }[]> {
  const { rows } = await sql.query<{ k: string; tenant: unknown }>(
    `select source_entity || ' ' || coalesce(source_id, '∅') || ' ' || reason as k, item ->> 'TenantId' as tenant
       from kpi_migrate.rejects where run_id = $1::bigint order by 1`,
    [runId],
  );
  return rows.map((r) => ({ key: r.k, tenantId: r.tenant }));
}

export async function rejectKeysOf(sql: SqlSession, runId: string): Promise<string[]> {
  return (await rejectsOf(sql, runId)).map((r) => r.key);
}

export interface EntityCounts {
  read: number;
  migrated: number;
  rejected: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

export async function ledgerCounts(sql: SqlSession, runId: string): Promise<Record<string, EntityCounts>> {
  const { rows } = await sql.query<Record<string, string>>(
    `select entity, read::text, migrated::text, rejected::text, inserted::text, updated::text, unchanged::text, deleted::text
       from kpi_migrate.run_counts where run_id = $1::bigint order by entity`,
    [runId],
  );
  return Object.fromEntries(
    rows.map((r) => [
      r.entity!,
      {
        read: Number(r.read),
        migrated: Number(r.migrated),
        rejected: Number(r.rejected),
        inserted: Number(r.inserted),
        updated: Number(r.updated),
        unchanged: Number(r.unchanged),
        deleted: Number(r.deleted),
      },
    ]),
  );
}

/**
 * The per-entity figures of the summary table a run prints (`entity read migrated … inserted
 * updated unchanged [deleted] time rate`), by the header's column names.
 */
export function summaryCounts(stdout: string): Record<string, Record<string, number>> {
  const lines = stdout.split('\n');
  const cells = (line: string) => line.split(/[│|]/).map((c) => c.trim()).filter((c) => c !== '');
  const words = (line: string) => (cells(line).length > 1 ? cells(line) : line.trim().split(/\s+/));
  const headerAt = lines.findIndex((line) => /^\W*entity\b/.test(line.trim()) && /\binserted\b/.test(line));
  if (headerAt < 0) throw new Error(`no summary table in:\n${stdout}`);
  const header = words(lines[headerAt]!);
  const out: Record<string, Record<string, number>> = {};
  for (const line of lines.slice(headerAt + 1)) {
    // The table ends at the first blank line; the rejects table below it starts with entity names too.
    if (line.trim() === '') break;
    const row = words(line);
    if (!LEGACY_ENTITIES.includes(row[0] as LegacyEntity)) continue;
    out[row[0]!] = Object.fromEntries(header.slice(1).map((name, i) => [name, Number(row[i + 1]?.replace(/[,\s]/g, ''))]));
  }
  return out;
}

/** `kpi-migrate validate … --format json`: the checks that failed (name, subject, summary); [] when it passed. */
export async function failedValidationChecks(args: string[]): Promise<string[]> {
  const outcome = await runCli(['validate', ...args, '--format', 'json']);
  let report: { outcome: string; checks: { name: string; subject?: string; status: string; summary: string }[] };
  try {
    report = JSON.parse(outcome.stdout) as typeof report;
  } catch {
    throw new Error(`validate printed no JSON report: ${describeOutcome(outcome)}`);
  }
  const failed = report.checks.filter((c) => c.status === 'failed').map((c) => `${c.name}${c.subject ? ` (${c.subject})` : ''}: ${c.summary}`);
  expect(outcome.code, `validate exit code vs its report (${report.outcome})`).toBe(failed.length === 0 ? 0 : 1);
  return failed;
}
