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
import type { CheckResult, Report } from './report.js';

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:76rem;padding:0 1rem;color:#1d2330}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dde1e8;padding-bottom:.2rem}h3{font-size:1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #dde1e8;padding:.25rem .5rem;vertical-align:top;text-align:left}
th{background:#f3f5f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.passed{color:#1a7f37}.failed{color:#cf222e}.warning{color:#9a6700}.skipped{color:#6e7781}
.badge{display:inline-block;border-radius:.6rem;padding:0 .5rem;font-weight:600;color:#fff}
.badge.passed{background:#1a7f37}.badge.failed{background:#cf222e}.badge.warning{background:#bf8700}.badge.skipped{background:#6e7781}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:.4rem .6rem;margin:.4rem 0}
ul.evidence{margin:.2rem 0 .6rem;padding-left:1.2rem;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.diff td{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.3rem}
svg text{font:12px system-ui,sans-serif;fill:#1d2330}
`;

const COLOURS = { migrated: '#2da44e', rejected: '#cf222e', skipped: '#8c959f' } as const;

/** Records per entity as stacked horizontal bars (migrated, rejected, skipped), scaled to the largest table. */
function entityChart(report: Report): string {
  const rows = report.entities;
  const barHeight = 22;
  const labelWidth = 110;
  const barWidth = 460;
  const height = rows.length * (barHeight + 8) + 34;
  const largest = Math.max(1, ...rows.map((e) => e.migrated + e.rejected + e.skipped));
  const parts: string[] = [];
  rows.forEach((entity, i) => {
    const y = i * (barHeight + 8);
    parts.push(`<text x="${labelWidth - 6}" y="${y + 15}" text-anchor="end">${escape(entity.entity)}</text>`);
    let x = labelWidth;
    for (const kind of ['migrated', 'rejected', 'skipped'] as const) {
      const value = entity[kind];
      if (value === 0) continue;
      const width = Math.max(1, (value / largest) * barWidth);
      parts.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${width.toFixed(1)}" height="${barHeight}" fill="${COLOURS[kind]}"><title>${escape(`${entity.entity}: ${formatCount(value)} ${kind}`)}</title></rect>`);
      x += width;
    }
    parts.push(`<text x="${(x + 6).toFixed(1)}" y="${y + 15}">${escape(`${formatCount(entity.migrated)} / ${formatCount(entity.rejected)} / ${formatCount(entity.skipped)}`)}</text>`);
  });
  const legendY = rows.length * (barHeight + 8) + 12;
  (['migrated', 'rejected', 'skipped'] as const).forEach((kind, i) => {
    const x = labelWidth + i * 110;
    parts.push(`<rect x="${x}" y="${legendY}" width="12" height="12" fill="${COLOURS[kind]}"/><text x="${x + 16}" y="${legendY + 11}">${kind}</text>`);
  });
  return svg(labelWidth + barWidth + 160, height, 'Records per entity: migrated, rejected and skipped', parts);
}

const ENTITY_COLOURS = ['#8250df', '#0969da', '#bf3989', '#bc4c00', '#1a7f37', '#57606a'];

/** Rejects per reason as horizontal bars, each split by the entities it hit (one colour per entity). */
function rejectChart(report: Report): string {
  const rows = rejectRows(report);
  if (rows.length === 0) return '<p>No record was rejected.</p>';
  const entities = [...new Set(rows.map((r) => r.entity))];
  const colour = (entity: string) => ENTITY_COLOURS[entities.indexOf(entity) % ENTITY_COLOURS.length]!;
  const reasons = [...new Set(rows.map((r) => r.reason))]
    .map((reason) => ({ reason, parts: rows.filter((r) => r.reason === reason), total: rows.filter((r) => r.reason === reason).reduce((sum, r) => sum + r.count, 0) }))
    .sort((a, b) => b.total - a.total || (a.reason < b.reason ? -1 : 1));
  const barHeight = 20;
  const labelWidth = 120;
  const barWidth = 420;
  const largest = Math.max(...reasons.map((r) => r.total));
  const parts: string[] = [];
  reasons.forEach(({ reason, parts: byEntity, total }, i) => {
    const y = i * (barHeight + 8);
    parts.push(`<text x="${labelWidth - 6}" y="${y + 14}" text-anchor="end">${escape(reason)}</text>`);
    let x = labelWidth;
    for (const part of byEntity) {
      const width = Math.max(1, (part.count / largest) * barWidth);
      parts.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${width.toFixed(1)}" height="${barHeight}" fill="${colour(part.entity)}" stroke="#fff" stroke-width="1"><title>${escape(`${part.entity} ${reason}: ${formatCount(part.count)}`)}</title></rect>`);
      x += width;
    }
    parts.push(`<text x="${(x + 6).toFixed(1)}" y="${y + 14}">${formatCount(total)}</text>`);
  });
  const legendY = reasons.length * (barHeight + 8) + 8;
  entities.forEach((entity, i) => {
    const x = labelWidth + (i % 4) * 120;
    const y = legendY + Math.floor(i / 4) * 18;
    parts.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${colour(entity)}"/><text x="${x + 16}" y="${y + 11}">${escape(entity)}</text>`);
  });
  const height = legendY + Math.ceil(entities.length / 4) * 18 + 4;
  return svg(labelWidth + barWidth + 80, height, 'Rejects by reason, split by entity', parts);
}

function svg(width: number, height: number, label: string, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escape(label)}">${parts.join('')}</svg>`;
}

function table(headers: readonly string[] | undefined, rows: readonly (readonly string[])[], numeric: readonly boolean[] = [], className = ''): string {
  const head = headers === undefined ? '' : `<tr>${headers.map((h) => `<th>${escape(h)}</th>`).join('')}</tr>`;
  const body = rows.map((row) => `<tr>${row.map((value, i) => `<td${numeric[i] ? ' class="n"' : ''}>${escape(value)}</td>`).join('')}</tr>`).join('\n');
  return `<table${className ? ` class="${className}"` : ''}>\n${head}\n${body}\n</table>`;
}

function checkSection(check: CheckResult): string {
  const evidence = evidenceLines(check.evidence);
  const more = check.differencesFound > check.differences.length ? ` (${check.differences.length} of ${check.differencesFound} listed)` : '';
  return [
    `<h3><span class="badge ${check.status}">${check.status}</span> ${escape(checkName(check))}</h3>`,
    `<p>${escape(check.summary)}</p>`,
    evidence.length > 0 ? `<ul class="evidence">${evidence.map((line) => `<li>${escape(line)}</li>`).join('')}</ul>` : '',
    check.differences.length > 0 ? `<p>Differences${escape(more)}:</p>${table(DIFFERENCE_HEADERS, check.differences.map((d) => differenceCells(d, 120)), [], 'diff')}` : '',
  ].join('\n');
}

function body(report: Report, level: number): string {
  const h = (n: number) => `h${Math.min(6, level + n - 1)}`;
  const columns = entityColumns(report);
  const summary = table(
    undefined,
    [
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
  );
  const phases = table(
    ['phase', 'seconds', 'items', 'items/s'],
    report.timings.phases.map((p) => [p.name, p.seconds.toFixed(3), formatCount(p.items), p.items !== undefined && p.seconds > 0 ? formatCount(Math.round(p.items / p.seconds)) : '']),
    [false, true, true, true],
  );
  return [
    `<${h(1)}>${escape(title(report))}</${h(1)}>`,
    `<p><span class="badge ${report.outcome}">${report.outcome}</span> ${escape(outcomeLine(report))}</p>`,
    ...report.warnings.map((warning) => `<div class="warn">${escape(warning)}</div>`),
    summary,
    `<${h(2)}>Records per entity</${h(2)}>`,
    `<figure><figcaption>Records per entity</figcaption>${entityChart(report)}</figure>`,
    table(columns.map((c) => c.header), report.entities.map((e) => columns.map((c) => c.value(e))), columns.map((c) => c.numeric)),
    `<${h(2)}>Rejects by reason</${h(2)}>`,
    `<figure><figcaption>Rejects by reason, split by entity</figcaption>${rejectChart(report)}</figure>`,
    `<${h(2)}>Checks: ${escape(checkTally(report.checks))}</${h(2)}>`,
    table(['status', 'check', 'result'], report.checks.map((c) => [c.status, checkName(c), c.summary])),
    ...report.checks.map(checkSection),
    `<${h(2)}>Timings</${h(2)}>`,
    phases,
    report.validation === undefined ? '' : `<section>${body(report.validation, level + 1)}</section>`,
  ].join('\n');
}

/** The report as one self-contained HTML page: inline CSS and SVG charts, no script, nothing fetched. */
export function renderHtml(report: Report): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title(report))}</title>
<style>${STYLE}</style>
</head>
<body>
${body(report, 1)}
</body>
</html>
`;
}
