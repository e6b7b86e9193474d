import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DemoValidation } from '../pipeline/demo.js';
import { renderReport, validateConfigured } from '../validate/index.js';
import { renderCheckLine } from './summary.js';

/** A fixed sample seed: the demo shows the same validation on every machine. */
const DEMO_SAMPLE_SEED = 1;

/**
 * The demo's validation is the real one (`kpi-migrate validate --full`) against the demo's source
 * and PGlite target; its report goes to the demo's report directory as JSON, Markdown and HTML.
 */
export const demoValidation: DemoValidation = {
  async validate({ config, runId, reportDir }) {
    const outcome = await validateConfigured(config, {
      runId,
      seed: DEMO_SAMPLE_SEED,
      full: true,
      reportFile: path.join(reportDir, 'validation.json'),
    });
    const markdown = path.join(reportDir, 'validation.md');
    const html = path.join(reportDir, 'validation.html');
    await writeFile(markdown, renderReport(outcome.report, 'md'));
    await writeFile(html, renderReport(outcome.report, 'html'));
    return {
      passed: outcome.report.outcome === 'passed',
      lines: outcome.report.checks.map(renderCheckLine),
      reports: [
        { label: 'HTML', path: html },
        { label: 'Markdown', path: markdown },
        { label: 'JSON', path: outcome.reportFile },
      ],
    };
  },
};
