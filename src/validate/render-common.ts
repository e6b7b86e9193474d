import type { CheckResult, CheckStatus, Difference, EntityReport, Report } from './report.js';

/** What the renderers share: which figures a report has, and how they read. */

export function formatCount(value: number | undefined): string {
  if (value === undefined) return '';
  return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatSeconds(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(2)} s` : `${seconds.toFixed(1)} s`;
}

export function title(report: Report): string {
  const what = report.kind === 'run' ? 'run' : 'validation';
  return `kpi-migrate ${what} report${report.runId === null ? '' : ` — run ${report.runId}`}: ${report.outcome.toUpperCase()}`;
}

export interface EntityColumn {
  header: string;
  value: (entity: EntityReport) => string;
  numeric: boolean;
}

/** The entity table's columns: the run's write figures for a run, the recount and rows for a validation. */
export function entityColumns(report: Report): EntityColumn[] {
  const count = (header: string, pick: (e: EntityReport) => number | undefined): EntityColumn => ({ header, value: (e) => formatCount(pick(e)), numeric: true });
  const columns: EntityColumn[] = [
    { header: 'entity', value: (e) => e.entity, numeric: false },
    count(report.kind === 'validate' ? 'source (recount)' : 'read', (e) => e.read),
    count('migrated', (e) => e.migrated),
    count('rejected', (e) => e.rejected),
    count('skipped', (e) => e.skipped),
  ];
  const has = (pick: (e: EntityReport) => unknown) => report.entities.some((e) => pick(e) !== undefined);
  if (has((e) => e.rows)) columns.push(count('target rows', (e) => e.rows));
  if (has((e) => e.expectedRows)) columns.push(count('expected rows', (e) => e.expectedRows));
  if (has((e) => e.inserted)) {
    columns.push(count('inserted', (e) => e.inserted), count('updated', (e) => e.updated), count('unchanged', (e) => e.unchanged));
  } else if (has((e) => e.ledger)) {
    columns.push(
      count('run: read', (e) => e.ledger?.read),
      count('run: inserted', (e) => e.ledger?.inserted),
      count('run: updated', (e) => e.ledger?.updated),
      count('run: unchanged', (e) => e.ledger?.unchanged),
    );
  }
  if (has((e) => e.itemsPerSecond)) columns.push(count('items/s', (e) => e.itemsPerSecond));
  return columns;
}

export function rejectRows(report: Report): { entity: string; reason: string; count: number }[] {
  const rows: { entity: string; reason: string; count: number }[] = [];
  for (const entity of report.entities) {
    for (const [reason, count] of Object.entries(entity.rejectsByReason)) if (count) rows.push({ entity: entity.entity, reason, count });
  }
  return rows;
}

export function checkTally(checks: readonly CheckResult[]): string {
  const tally = (status: CheckStatus) => checks.filter((c) => c.status === status).length;
  const parts = [`${tally('passed')} passed`, `${tally('failed')} failed`];
  if (tally('warning') > 0) parts.push(`${tally('warning')} warning(s)`);
  if (tally('skipped') > 0) parts.push(`${tally('skipped')} skipped`);
  return parts.join(', ');
}

/** The checks' tally, and the embedded validation's when a run report carries one. */
export function outcomeLine(report: Report): string {
  const own = checkTally(report.checks);
  return report.validation === undefined ? own : `run: ${own}; validation: ${checkTally(report.validation.checks)}`;
}

export function checkName(check: CheckResult): string {
  return check.subject === undefined ? check.name : `${check.name} · ${check.subject}`;
}

export function optionsLine(report: Report): string {
  return Object.entries(report.options)
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([key, value]) => `${key} ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(', ');
}

/** Evidence as `name: value` lines; nested values as compact JSON. */
export function evidenceLines(evidence: Record<string, unknown>): string[] {
  return Object.entries(evidence)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

export const DIFFERENCE_HEADERS = ['kind', 'row id', 'record', 'column', 'expected', 'found', 'what'] as const;

export function differenceCells(difference: Difference, width = 80): string[] {
  const clip = (text: string | null | undefined) => {
    if (text === undefined) return '';
    if (text === null) return 'NULL';
    return text.length > width ? `${text.slice(0, width)}…` : text;
  };
  const record = difference.entity === undefined ? '' : `${difference.entity} ${difference.sourceId ?? '(no Id)'}`;
  return [difference.kind, clip(difference.id), clip(record), clip(difference.column), clip(difference.expected), clip(difference.found), difference.message];
}
