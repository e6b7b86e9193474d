import type { MigrateResult } from '../pipeline/migrate.js';
import type { ValidatedRunOutcome } from '../pipeline/validated-run.js';
import type { CheckResult } from '../validate/report.js';
import { LEGACY_ENTITIES } from '../model/entities.js';
import type { EntityTimings } from './progress-display.js';
import { describeFinalize } from '../load/finalize.js';

function table(header: string[], rows: string[][], footer?: string[]): string {
  const all = footer === undefined ? rows : [...rows, footer];
  const widths = header.map((h, i) => Math.max(h.length, ...all.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [fmt(header), rule, ...rows.map(fmt), ...(footer === undefined ? [] : [rule, fmt(footer)])].join('\n');
}

function seconds(value: number): string {
  return `${value.toFixed(1)} s`;
}

function rate(items: number, value: number): string {
  return value > 0 ? `${Math.round(items / value).toLocaleString('en-US')}/s` : '-';
}

/**
 * The end-of-run table, per entity as pgloader prints it, then the rejects by reason. Time and
 * rate are this process's (a resumed run's counts include earlier sessions; its times do not):
 * rate = items of the table read in this session / time spent on the table, every phase included.
 */
export function renderRunSummary(result: MigrateResult, timings: EntityTimings = {}): string {
  const wall = (result.finishedAt.getTime() - result.startedAt.getTime()) / 1000;
  const rows: string[][] = [];
  const reasons = new Map<string, number>();
  const totals = { read: 0, migrated: 0, rejected: 0, skipped: 0, rowsOut: 0, inserted: 0, updated: 0, unchanged: 0, deleted: 0, sessionRead: 0 };
  // Only a converge run deletes: the others keep the table they always printed.
  const deletes = result.converge === true;
  for (const entity of LEGACY_ENTITIES) {
    const c = result.counts.entities[entity];
    if (c === undefined) continue;
    const timing = timings[entity];
    rows.push([
      ...[entity, c.read, c.migrated, c.rejected, c.skipped, c.rowsOut, c.inserted, c.updated, c.unchanged, ...(deletes ? [c.deleted] : [])].map(String),
      timing === undefined ? '-' : seconds(timing.seconds),
      timing === undefined ? '-' : rate(timing.itemsRead, timing.seconds),
    ]);
    for (const key of ['read', 'migrated', 'rejected', 'skipped', 'rowsOut', 'inserted', 'updated', 'unchanged', 'deleted'] as const) totals[key] += c[key];
    totals.sessionRead += timing?.itemsRead ?? 0;
    for (const [reason, n] of Object.entries(c.rejectsByReason)) reasons.set(`${entity} ${reason}`, n);
  }
  const footer = [
    ...['total', totals.read, totals.migrated, totals.rejected, totals.skipped, totals.rowsOut, totals.inserted, totals.updated, totals.unchanged, ...(deletes ? [totals.deleted] : [])].map(String),
    seconds(wall),
    Object.keys(timings).length === 0 ? '-' : rate(totals.sessionRead, wall),
  ];
  const lines = [
    `${deletes ? 'converge ' : ''}run ${result.runId} ${result.dryRun ? '(dry run: nothing written) ' : ''}${result.status} in ${wall.toFixed(1)} s — environment ${result.environment}, target ${result.target}`,
    '',
    table(['entity', 'read', 'migrated', 'rejected', 'skipped', 'rows', 'inserted', 'updated', 'unchanged', ...(deletes ? ['deleted'] : []), 'time', 'rate'], rows, footer),
  ];
  if (reasons.size > 0) {
    lines.push('', table(['rejects', 'count'], [...reasons].map(([k, n]) => [k, String(n)])));
    lines.push(`(kpi-migrate rejects --run ${result.runId} lists them)`);
  }
  const fallbacks = result.counts.entities.GoalKpiLink?.personFallbacks ?? 0;
  if (fallbacks > 0) lines.push('', `${fallbacks} link(s) have no matching person: person_id is the user id itself`);
  lines.push('', result.accountingBalanced ? 'accounting: read = migrated + rejected + skipped for every table ✓' : `accounting FAILED:\n  ${result.unbalanced.join('\n  ')}`);
  return lines.join('\n');
}

const CHECK_MARK = { passed: '✓', failed: '✗', warning: '!', skipped: '-' } as const;

/** Differences printed under a failed check; the report lists up to --limit of them. */
const DIFFERENCES_SHOWN = 5;

/** One line per check: mark, name, subject, summary. */
export function renderCheckLine(check: CheckResult): string {
  return `${CHECK_MARK[check.status]} ${check.name}${check.subject === undefined ? '' : ` (${check.subject})`}: ${check.summary}`;
}

/**
 * What follows the run's summary: the validation that ended it, check by check (a failed check
 * with its first differences), or why the run was not validated and how to validate it.
 */
export function renderRunValidation(outcome: ValidatedRunOutcome): string {
  const { validation, migration } = outcome;
  const runId = migration.runId;
  // The run report's warning says why, and how to validate it later.
  if (validation === undefined) return outcome.report.warnings.join('\n');
  const options = validation.options as { sample?: number; seed?: number };
  const lines = [`validation of run ${runId} (sample ${options.sample ?? '?'}, seed ${options.seed ?? '?'}):`];
  for (const check of validation.checks) {
    lines.push(`  ${renderCheckLine(check)}`);
    if (check.status !== 'failed') continue;
    const shown = check.differences.slice(0, DIFFERENCES_SHOWN);
    for (const difference of shown) lines.push(`      ${difference.message}`);
    if (check.differencesFound > shown.length) lines.push(`      … ${check.differencesFound - shown.length} more (kpi-migrate report --run ${runId})`);
  }
  for (const warning of validation.warnings) lines.push(`  ! ${warning}`);
  lines.push(validation.outcome === 'passed' ? 'validation passed ✓' : `validation FAILED (kpi-migrate report --run ${runId} --format html lists the differences)`);
  return lines.join('\n');
}

/** What finalize did at the end of the run, as `kpi-migrate finalize` prints it (nothing when it did not run). */
export function renderRunFinalize(outcome: ValidatedRunOutcome): string[] {
  return outcome.finalize === undefined ? [] : [describeFinalize(outcome.finalize).join('\n')];
}
