import { describe, expect, it } from 'vitest';
import { renderRunSummary, renderRunValidation } from '../../src/cli/summary.js';
import type { MigrateResult } from '../../src/pipeline/migrate.js';
import type { ValidatedRunOutcome } from '../../src/pipeline/validated-run.js';
import type { EntityRunCounts } from '../../src/load/index.js';

const counts = (c: Partial<EntityRunCounts>): EntityRunCounts => ({
  read: 0, migrated: 0, rejected: 0, skipped: 0, rowsOut: 0, inserted: 0, updated: 0, unchanged: 0, deleted: 0, personFallbacks: 0, rejectsByReason: {},
  ...c,
});

const result: MigrateResult = {
  runId: '7',
  status: 'completed',
  startedAt: new Date('2024-01-01T00:00:00Z'),
  finishedAt: new Date('2024-01-01T00:00:10Z'),
  environment: 'staging',
  target: 'postgres://m:*****@db/kpi',
  accountingBalanced: true,
  unbalanced: [],
  dryRun: false,
  counts: {
    runId: '7',
    entities: {
      Kpi: counts({ read: 30, migrated: 30 }),
      GoalKpiLink: counts({ read: 48, migrated: 44, rejected: 4, rowsOut: 44, inserted: 40, unchanged: 4, personFallbacks: 11, rejectsByReason: { invalid_id: 4 } }),
      KpiActual: counts({ read: 12000, migrated: 11990, rejected: 10, rowsOut: 18000, inserted: 18000, rejectsByReason: { no_kpi_link: 10 } }),
    },
  },
};

describe('the end-of-run summary', () => {
  it('prints a row per entity with this session’s time and rate, and a total row', () => {
    const text = renderRunSummary(result, { Kpi: { seconds: 0.5, itemsRead: 30 }, GoalKpiLink: { seconds: 2, itemsRead: 48 }, KpiActual: { seconds: 6, itemsRead: 12000 } });
    const lines = text.split('\n');
    expect(lines[0]).toBe('run 7 completed in 10.0 s — environment staging, target postgres://m:*****@db/kpi');
    expect(lines[2]).toMatch(/^entity +read +migrated +rejected +skipped +rows +inserted +updated +unchanged +time +rate$/);
    expect(text).toMatch(/^Kpi +30 +30 +0 +0 +0 +0 +0 +0 +0\.5 s +60\/s$/m);
    expect(text).toMatch(/^GoalKpiLink +48 +44 +4 +0 +44 +40 +0 +4 +2\.0 s +24\/s$/m);
    expect(text).toMatch(/^KpiActual +12000 +11990 +10 +0 +18000 +18000 +0 +0 +6\.0 s +2,000\/s$/m);
    expect(text).toMatch(/^total +12078 +12064 +14 +0 +18044 +18040 +0 +4 +10\.0 s +1,208\/s$/m);
    expect(text).toMatch(/^GoalKpiLink invalid_id +4$/m);
    expect(text).toContain('(kpi-migrate rejects --run 7 lists them)');
    expect(text).toContain('11 link(s) have no matching person');
    expect(text.trimEnd().endsWith('accounting: read = migrated + rejected + skipped for every table ✓')).toBe(true);
  });

  it('of a converge run, adds a deleted column and says so in its title', () => {
    const converged: MigrateResult = {
      ...result,
      converge: true,
      counts: {
        runId: '7',
        entities: {
          GoalKpiLink: counts({ read: 48, migrated: 44, rejected: 4, rowsOut: 44, unchanged: 44, deleted: 2, rejectsByReason: { invalid_id: 4 } }),
          KpiActual: counts({ read: 11900, migrated: 11890, rejected: 10, rowsOut: 17800, updated: 30, unchanged: 17770, deleted: 200, rejectsByReason: { no_kpi_link: 10 } }),
        },
      },
    };
    const text = renderRunSummary(converged);
    expect(text.split('\n')[0]).toBe('converge run 7 completed in 10.0 s — environment staging, target postgres://m:*****@db/kpi');
    expect(text).toMatch(/^entity +read +migrated +rejected +skipped +rows +inserted +updated +unchanged +deleted +time +rate$/m);
    expect(text).toMatch(/^KpiActual +11900 +11890 +10 +0 +17800 +0 +30 +17770 +200 +- +-$/m);
    expect(text).toMatch(/^total +11948 +11934 +14 +0 +17844 +0 +30 +17814 +202 +10\.0 s +-$/m);
  });

  it('leaves time and rate empty without timings, and says when the accounting fails', () => {
    const text = renderRunSummary({ ...result, accountingBalanced: false, unbalanced: ['KpiActual: read 12000 ≠ migrated 11990 + rejected 9 + skipped 0'] });
    expect(text).toMatch(/^Kpi +30 +30 +0 +0 +0 +0 +0 +0 +- +-$/m);
    expect(text).toMatch(/^total .* 10\.0 s +-$/m);
    expect(text).toContain('accounting FAILED:\n  KpiActual: read 12000 ≠ migrated 11990 + rejected 9 + skipped 0');
  });
});

describe('the validation after the summary', () => {
  const failedRows = {
    name: 'rows',
    subject: 'kpi_data',
    status: 'failed' as const,
    summary: '7 rows differ',
    evidence: {},
    differences: Array.from({ length: 6 }, (_, i) => ({ kind: 'extra_row' as const, message: `row ${i} is not expected` })),
    differencesFound: 7,
  };
  const validation = {
    reportVersion: 1 as const,
    kind: 'validate' as const,
    runId: '7',
    outcome: 'failed' as const,
    generatedAt: '2024-01-01T00:00:11Z',
    environment: 'staging',
    codeVersion: 'test',
    configFingerprint: 'test',
    source: { kind: 'export' },
    target: { database: 'test', schema: 'public' },
    options: { sample: 200, seed: 42 },
    timings: { startedAt: '2024-01-01T00:00:10Z', finishedAt: '2024-01-01T00:00:11Z', seconds: 1, phases: [] },
    entities: [],
    checks: [{ name: 'orphans', status: 'passed' as const, summary: 'every kpi_data row has its link', evidence: {}, differences: [], differencesFound: 0 }, failedRows],
    warnings: [],
  };
  const outcome = (over: Partial<ValidatedRunOutcome>): ValidatedRunOutcome => ({
    migration: result,
    validation: undefined,
    notValidated: undefined,
    report: { ...validation, kind: 'run', checks: [], warnings: [] },
    reportFile: 'r.json',
    storedAs: '1',
    passed: true,
    ...over,
  });

  it('a line per check; a failed one with its first differences and how many more there are', () => {
    const lines = renderRunValidation(outcome({ validation, passed: false })).split('\n');
    expect(lines).toEqual([
      'validation of run 7 (sample 200, seed 42):',
      '  ✓ orphans: every kpi_data row has its link',
      '  ✗ rows (kpi_data): 7 rows differ',
      ...[0, 1, 2, 3, 4].map((i) => `      row ${i} is not expected`),
      '      … 2 more (kpi-migrate report --run 7)',
      'validation FAILED (kpi-migrate report --run 7 --format html lists the differences)',
    ]);
  });

  it('without a validation, the run report’s warning: why, and how to validate', () => {
    const warning = 'the run was not validated (--no-validate): kpi-migrate validate --run 7 proves it';
    expect(renderRunValidation(outcome({ notValidated: 'no-validate', report: { ...validation, kind: 'run', checks: [], warnings: [warning] } }))).toBe(warning);
  });
});
