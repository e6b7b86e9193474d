/** The median of a few measurements (the bench repeats each at least three times by default). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** One line of the table: a figure, and where it has one, its ratio and the target the issue set. */
export interface FigureLine {
  measurement: string;
  figure: string;
  ratio?: string;
  target?: string;
  /** undefined: no target, or not measured. */
  met?: boolean;
}

const integer = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
export const rate = (n: number, unit: string): string => `${integer(n)} ${unit}/s`;
export const seconds = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(1)} s` : '—');
export const megabytes = (bytes: number): string => (bytes > 0 ? `${Math.round(bytes / 1024 / 1024)} MB` : '—');
export const times = (ratio: number, of: string): string => (Number.isFinite(ratio) ? `${ratio.toFixed(2)} × ${of}` : '—');

function mark(line: FigureLine): string {
  return line.met === undefined ? '' : line.met ? 'yes' : 'NO';
}

/** The table as text for a terminal. */
export function renderText(lines: readonly FigureLine[]): string {
  const header: FigureLine = { measurement: 'measurement', figure: 'figure', ratio: 'ratio', target: 'target' };
  const rows = [header, ...lines].map((line, index) => [line.measurement, line.figure, line.ratio ?? '', line.target ?? '', index === 0 ? 'met' : mark(line)]);
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const format = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [format(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(format)].join('\n');
}

/** The same table in Markdown, for the README's Performance section. */
export function renderMarkdown(lines: readonly FigureLine[]): string {
  const escape = (text: string) => text.replace(/\|/g, '\\|');
  return [
    '| measurement | figure | ratio | target | met |',
    '|---|---|---|---|---|',
    ...lines.map((line) => `| ${escape(line.measurement)} | ${escape(line.figure)} | ${escape(line.ratio ?? '')} | ${escape(line.target ?? '')} | ${mark(line)} |`),
  ].join('\n');
}
