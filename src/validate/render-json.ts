import type { Report } from './report.js';

/** The report as JSON exactly as stored and written: the versioned schema of docs/reports.md. */
export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
