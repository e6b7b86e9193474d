import { z } from 'zod';
import { MigrateError } from '../errors.js';
import { LEGACY_ENTITIES } from '../model/entities.js';
import { REJECT_REASONS } from '../model/reject.js';

/**
 * The report every run and every validation writes (JSON file, and kpi_migrate.reports), and that
 * `kpi-migrate report` renders. Versioned: a field is only ever added in a new version, and the
 * renderers refuse a version they do not know. docs/reports.md describes every field.
 */
export const REPORT_VERSION = 1;

const count = z.number().int().nonnegative();
const reasonCounts = z.partialRecord(z.enum(REJECT_REASONS), count);

export const differenceSchema = z.object({
  kind: z.enum([
    'missing_row',
    'extra_row',
    'changed_value',
    'missing_reject',
    'reason_differs',
    'unexplained_reject',
    'not_found_by_key',
    'orphan_row',
    'reference',
    'count_mismatch',
    'schema',
  ]),
  table: z.enum(['kpi_links', 'kpi_data']).optional(),
  entity: z.string().optional(),
  sourceId: z.string().nullable().optional(),
  /** The target row's id. */
  id: z.string().optional(),
  column: z.string().optional(),
  expected: z.string().nullable().optional(),
  found: z.string().nullable().optional(),
  message: z.string(),
});
export type Difference = z.infer<typeof differenceSchema>;

export const CHECK_STATUSES = ['passed', 'failed', 'warning', 'skipped'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

export const checkSchema = z.object({
  /** Stable: `schema`, `accounting`, `fan-out`, `rows`, `samples`, `orphans`, `progress-cache`, `unknown-kpis`, `person-fallbacks`, `run-accounting`, `finalize`. */
  name: z.string(),
  /** The entity or table the check is about, when it is about one. */
  subject: z.string().optional(),
  status: z.enum(CHECK_STATUSES),
  summary: z.string(),
  /** The figures the verdict rests on (counts, plans, bucket counts…). */
  evidence: z.record(z.string(), z.unknown()),
  /** At most `--limit` of them. */
  differences: z.array(differenceSchema),
  /** How many differences were found in all (more than listed when the limit cut the list). */
  differencesFound: count,
});
export type CheckResult = z.infer<typeof checkSchema>;

export const entityReportSchema = z.object({
  entity: z.enum(LEGACY_ENTITIES),
  /** Items in the source table (a validation's independent recount, or what the run read). */
  read: count,
  /** Records whose rows are in the target (distinct source ids in the target, for a validation). */
  migrated: count,
  rejected: count,
  rejectsByReason: reasonCounts,
  skipped: count,
  /** Target rows of this entity. */
  rows: count.optional(),
  /** kpi_data rows the source says there must be (Σ links of each migrated record), for a validation. */
  expectedRows: count.optional(),
  inserted: count.optional(),
  updated: count.optional(),
  unchanged: count.optional(),
  /** Source items per second while this entity was read. */
  itemsPerSecond: z.number().nonnegative().optional(),
  /** The run's own ledger counts, beside a validation's independent ones. */
  ledger: z
    .object({ read: count, migrated: count, rejected: count, skipped: count, rowsOut: count, inserted: count, updated: count, unchanged: count })
    .optional(),
});
export type EntityReport = z.infer<typeof entityReportSchema>;

const cacheCounts = z.object({ computed: count, inserted: count, updated: count, deleted: count });

/** What `finalize` found and did at the end of a run (src/load/finalize.ts); docs/reports.md. */
export const finalizeSectionSchema = z.object({
  seconds: z.number().nonnegative(),
  /** Anything changed: false when a finalize had nothing left to do. */
  changed: z.boolean(),
  foreignKey: z.object({
    constraint: z.string(),
    found: z.enum(['valid', 'not_valid', 'absent']),
    added: z.boolean(),
    validated: z.boolean(),
    valid: z.boolean(),
    orphanRows: count.nullable(),
    orphans: z.array(z.object({ id: z.string(), kpiLinkId: z.string() })),
    seconds: z.number().nonnegative(),
  }),
  index: z.object({
    name: z.string(),
    found: z.enum(['valid', 'invalid', 'absent']),
    created: z.boolean(),
    droppedInvalid: z.boolean(),
    otherInvalid: z.array(z.string()),
    seconds: z.number().nonnegative(),
  }),
  progressCache: z.object({ links: cacheCounts, goals: cacheCounts, scope: z.enum(['all', 'links']), seconds: z.number().nonnegative() }),
});
export type FinalizeSection = z.infer<typeof finalizeSectionSchema>;

export const reportSchema = z.object({
  reportVersion: z.literal(REPORT_VERSION),
  kind: z.enum(['run', 'validate']),
  runId: z.string().nullable(),
  /** passed: every check passed (warnings allowed); failed: at least one failed. */
  outcome: z.enum(['passed', 'failed']),
  generatedAt: z.string(),
  environment: z.string(),
  codeVersion: z.string(),
  /** configHash of the resolved configuration (no secrets). */
  configFingerprint: z.string(),
  source: z.object({ kind: z.string(), description: z.string().optional() }),
  target: z.object({ database: z.string(), schema: z.string() }),
  /** What was asked: sample size and seed, --full, --limit, tenant, dry run… */
  options: z.record(z.string(), z.unknown()),
  timings: z.object({
    startedAt: z.string(),
    finishedAt: z.string(),
    seconds: z.number().nonnegative(),
    phases: z.array(z.object({ name: z.string(), seconds: z.number().nonnegative(), items: count.optional() })),
  }),
  entities: z.array(entityReportSchema),
  checks: z.array(checkSchema),
  /** A run's report: what finalize did before the validation (absent when it did not run). */
  finalize: finalizeSectionSchema.optional(),
  /** A run's report embeds the validation that ended it. */
  validation: z.lazy((): z.ZodType<unknown> => reportSchema).optional(),
  warnings: z.array(z.string()),
});
export type Report = z.infer<typeof reportSchema> & { validation?: Report };
export type ValidationReport = Report & { kind: 'validate' };

export type ReportFormat = 'md' | 'html' | 'json';
export const REPORT_FORMATS = ['md', 'html', 'json'] as const;

/** A stored or written report, checked before anything renders it. */
export function parseReport(value: unknown, where: string): Report {
  const version = (value as { reportVersion?: unknown } | null)?.reportVersion;
  if (version !== REPORT_VERSION) {
    throw new MigrateError('USAGE', `${where} is a report of version ${JSON.stringify(version)}; this kpi-migrate reads version ${REPORT_VERSION}`);
  }
  const parsed = reportSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new MigrateError('USAGE', `${where} is not a valid report: ${problems.join('; ')}`);
  }
  return parsed.data as Report;
}

/** A check's verdict over everything its checks found: failed beats warning beats passed. */
export function outcomeOf(checks: readonly CheckResult[]): 'passed' | 'failed' {
  return checks.some((check) => check.status === 'failed') ? 'failed' : 'passed';
}

/** A list of differences cut at `limit`, with the total kept. */
export class DifferenceList {
  readonly listed: Difference[] = [];
  found = 0;
  constructor(readonly limit: number) {}

  add(difference: Difference): void {
    this.found += 1;
    if (this.listed.length < this.limit) this.listed.push(difference);
  }

  get full(): boolean {
    return this.listed.length >= this.limit;
  }
}

export function check(
  name: string,
  status: CheckStatus,
  summary: string,
  evidence: Record<string, unknown>,
  differences?: DifferenceList,
  subject?: string,
): CheckResult {
  return {
    name,
    ...(subject === undefined ? {} : { subject }),
    status,
    summary,
    evidence,
    differences: differences?.listed ?? [],
    differencesFound: differences?.found ?? 0,
  };
}
