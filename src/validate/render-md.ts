import {
  checkName,
  checkTally,
  outcomeLine,
  DIFFERENCE_HEADERS,
  differenceCells,
  entityColumns,
  evidenceLines,
  formatCount,
  formatSeconds,
  optionsLine,
  rejectRows,
  title,
} from './render-common.js';
import type { CheckResult, CheckStatus, Report } from './report.js';

const MARK: Record<CheckStatus, string> = { passed: '✅', failed: '❌', warning: '⚠️', skipped: '➖' };

/** Legacy text can hold anything: a cell must not break the table or turn into markup. */
function cell(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/`/g, '\\`')
    .replace(/\r?\n|\r/g, '␤');
}

function table(headers: readonly string[], rows: readonly (readonly string[])[], numeric: readonly boolean[] = []): string[] {
  return [
    `| ${headers.map(cell).join(' | ')} |`,
    `|${headers.map((_, i) => (numeric[i] ? '---:' : '---')).join('|')}|`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ];
}

/** The report as Markdown (GitHub flavour): summary, entities, rejects, checks with evidence, timings. */
export function renderMarkdown(report: Report): string {
  return `${sections(report, 1).join('\n')}\n`;
}

function sections(report: Report, level: number): string[] {
  const h = (depth: number) => '#'.repeat(level + depth - 1);
  const lines: string[] = [`${h(1)} ${title(report)}`, ''];
  lines.push(
    ...table(
      ['', ''],
      [
        ['outcome', `${report.outcome === 'passed' ? '✅' : '❌'} ${report.outcome} (${outcomeLine(report)})`],
        ['kind', report.kind],
        ['run id', report.runId ?? '(none)'],
        ['environment', report.environment],
        ['source', `${report.source.kind}${report.source.description ? ` — ${report.source.description}` : ''}`],
        ['target', `${report.target.database}, schema ${report.target.schema}`],
        ['code version', report.codeVersion],
        ['config fingerprint', report.configFingerprint],
        ['options', optionsLine(report) || '(defaults)'],
        ['started', report.timings.startedAt],
        ['finished', `${report.timings.finishedAt} (${formatSeconds(report.timings.seconds)})`],
        ['report', `version ${report.reportVersion}, generated ${report.generatedAt}`],
      ],
    ),
    '',
  );
  for (const warning of report.warnings) lines.push(`> ⚠️ ${cell(warning)}`, '');

  const columns = entityColumns(report);
  lines.push(`${h(2)} Records per entity`, '');
  lines.push(...table(columns.map((c) => c.header), report.entities.map((e) => columns.map((c) => c.value(e))), columns.map((c) => c.numeric)), '');
  const rejects = rejectRows(report);
  if (rejects.length > 0) {
    lines.push(`${h(2)} Rejects by reason`, '');
    lines.push(...table(['entity', 'reason', 'count'], rejects.map((r) => [r.entity, r.reason, formatCount(r.count)]), [false, false, true]), '');
    if (report.runId !== null) lines.push(`\`kpi-migrate rejects --run ${report.runId}\` lists them with their raw items.`, '');
  }

  lines.push(`${h(2)} Checks: ${checkTally(report.checks)}`, '');
  lines.push(...table(['', 'check', 'result'], report.checks.map((c) => [MARK[c.status], checkName(c), c.summary])), '');
  for (const check of report.checks) lines.push(...checkDetails(check, h(3)));

  lines.push(`${h(2)} Timings`, '');
  lines.push(
    ...table(
      ['phase', 'seconds', 'items', 'items/s'],
      report.timings.phases.map((p) => [
        p.name,
        p.seconds.toFixed(3),
        formatCount(p.items),
        p.items !== undefined && p.seconds > 0 ? formatCount(Math.round(p.items / p.seconds)) : '',
      ]),
      [false, true, true, true],
    ),
    '',
  );
  if (report.validation !== undefined) lines.push(...sections(report.validation, level + 1));
  return lines;
}

function checkDetails(check: CheckResult, heading: string): string[] {
  const lines = [`${heading} ${MARK[check.status]} ${checkName(check)}`, '', check.summary, ''];
  const evidence = evidenceLines(check.evidence);
  if (evidence.length > 0) lines.push(...evidence.map((line) => `- ${cell(line)}`), '');
  if (check.differences.length > 0) {
    const more = check.differencesFound > check.differences.length ? ` (${check.differences.length} of ${check.differencesFound} listed)` : '';
    lines.push(`Differences${more}:`, '');
    lines.push(...table(DIFFERENCE_HEADERS, check.differences.map((d) => differenceCells(d))), '');
  }
  return lines;
}
