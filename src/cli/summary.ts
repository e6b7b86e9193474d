import type { MigrateResult } from '../pipeline/migrate.js';
import { LEGACY_ENTITIES } from '../transform/entities.js';

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

/** The end-of-run table, per entity as pgloader prints it, then the rejects by reason. */
export function renderRunSummary(result: MigrateResult): string {
  const seconds = (result.finishedAt.getTime() - result.startedAt.getTime()) / 1000;
  const rows: string[][] = [];
  const reasons = new Map<string, number>();
  for (const entity of LEGACY_ENTITIES) {
    const c = result.counts.entities[entity];
    if (c === undefined) continue;
    rows.push([entity, c.read, c.migrated, c.rejected, c.skipped, c.rowsOut, c.inserted, c.updated, c.unchanged].map(String));
    for (const [reason, n] of Object.entries(c.rejectsByReason)) reasons.set(`${entity} ${reason}`, n);
  }
  const lines = [
    `run ${result.runId} ${result.dryRun ? '(dry run: nothing written) ' : ''}${result.status} in ${seconds.toFixed(1)} s — environment ${result.environment}, target ${result.target}`,
    '',
    table(['entity', 'read', 'migrated', 'rejected', 'skipped', 'rows', 'inserted', 'updated', 'unchanged'], rows),
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
