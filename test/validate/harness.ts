import path from 'node:path';
import { expect } from 'vitest';
import { createExportSource } from '../../src/extract/export-source.js';
import type { LegacySource } from '../../src/model/source.js';
import type { SqlClient } from '../../src/db/sql-client.js';
import { finalizeTarget } from '../../src/load/finalize.js';
import { runMigration, type RunResult } from '../../src/pipeline/run.js';
import { defaultTableNames } from '../../src/model/entities.js';
import type { CheckResult, Difference, ValidationReport } from '../../src/validate/report.js';
import { validateMigration, type ValidationRequest } from '../../src/validate/validate.js';
import { SMALL_FIXTURES } from '../support/fixtures.js';

export const FIXTURE_EXPORT = path.join(SMALL_FIXTURES, 'export');

export function fixtureSource(dir = FIXTURE_EXPORT): LegacySource {
  return createExportSource({ dir, tableNames: defaultTableNames() });
}

/** A migration as `kpi-migrate run` does it before its validation: the run, then finalize. */
export async function migrate(sql: SqlClient, source: LegacySource, options: { tenant?: string; batchRows?: number } = {}): Promise<RunResult> {
  const result = await runMigration({
    source,
    sql,
    targetSchema: 'public',
    environment: 'test',
    batchRows: options.batchRows ?? 150,
    ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
    ledgerOptions: options.tenant === undefined ? {} : { tenant: options.tenant },
    codeVersion: 'test',
    configHash: 'test',
  });
  await finalizeTarget(sql, 'public');
  return result;
}

export function validate(sql: SqlClient, source: LegacySource, options: Partial<ValidationRequest> = {}): Promise<ValidationReport> {
  return validateMigration({ source, sql, targetSchema: 'public', sample: 50, seed: 7, ...options });
}

export function failedChecks(report: ValidationReport): string[] {
  return report.checks.filter((c) => c.status === 'failed').map((c) => (c.subject ? `${c.name}:${c.subject}` : c.name));
}

export function checkNamed(report: ValidationReport, name: string, subject?: string): CheckResult {
  const found = report.checks.find((c) => c.name === name && (subject === undefined || c.subject === subject));
  expect(found, `${name}${subject ? `:${subject}` : ''}`).toBeDefined();
  return found!;
}

export function differences(report: ValidationReport): Difference[] {
  return report.checks.flatMap((c) => c.differences);
}

/** Every check passed, except the two reference checks, which warn about what the fixtures hold on purpose. */
export function expectClean(report: ValidationReport): void {
  const notPassed = report.checks.filter((c) => c.status !== 'passed').map((c) => `${c.name}:${c.status}:${c.summary}`);
  expect(notPassed.filter((c) => !c.startsWith('unknown-kpis:warning') && !c.startsWith('person-fallbacks:warning'))).toEqual([]);
  expect(report.outcome).toBe('passed');
}
