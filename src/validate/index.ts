/** The validate stage: proves a migration from the source and the target alone, and reports. */
export { validateMigration, DEFAULT_DIFFERENCE_LIMIT, type ValidationRequest } from './validate.js';
export {
  validateConfigured,
  validateWithSession,
  keepValidationReport,
  findReport,
  type ValidateOptions,
  type ValidateOutcome,
} from './validate-configured.js';
export { buildRunReport, type RunReportInput, type NotValidatedReason } from './run-report.js';
export { storeReport, loadReport, writeReportFile, readReportFile, defaultReportFile, DEFAULT_REPORT_DIR } from './store.js';
export { renderReport } from './render.js';
export { renderMarkdown } from './render-md.js';
export { renderHtml } from './render-html.js';
export { renderJson } from './render-json.js';
export {
  REPORT_VERSION,
  REPORT_FORMATS,
  parseReport,
  reportSchema,
  type CheckResult,
  type CheckStatus,
  type Difference,
  type EntityReport,
  type Report,
  type ReportFormat,
  type ValidationReport,
} from './report.js';
