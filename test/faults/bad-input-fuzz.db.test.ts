import fc from 'fast-check';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { createExportSource } from '../../src/extract/export-source.js';
import { toDynamoDbJson } from '../../src/extract/export-writer.js';
import { runMigration } from '../../src/pipeline/run.js';
import { defaultTableNames, LEGACY_ENTITIES, type LegacyEntity } from '../../src/model/entities.js';
import { LegacyNumber, LegacySet, setAttribute, type LegacyItem, type LegacyValue } from '../../src/model/legacy-value.js';
import { toAttributeMap } from '../../src/extract/dynamodb-json.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { accountingOf, temporaryDirectory } from './harness.js';

const TENANT = 'a0000000-0000-4000-8000-000000000001';
const KPI = 'b0000000-0000-4000-8000-000000000001';
const USER = 'c0000000-0000-4000-8000-000000000001';

/** Contract §1 attributes per table. */
const ATTRIBUTES: Record<LegacyEntity, readonly string[]> = {
  Kpi: ['Id', 'TenantId', 'Name', 'OwnerId'],
  Person: ['Id', 'TenantId', 'DisplayName', 'LinkedUserId'],
  GoalKpiLink: ['Id', 'TenantId', 'GoalId', 'KpiId', 'ThresholdPct', 'LinkType', 'Weight', 'DisplayOrder', 'IsPrimary', 'CreatedBy', 'CreatedAt', 'UpdatedBy', 'UpdatedAt'],
  KpiMilestone: ['Id', 'TenantId', 'KpiId', 'TargetValue', 'MilestoneDate', 'Label', 'ConfidenceLevel', 'Rationale', 'CreatedBy', 'CreatedAt', 'UpdatedBy', 'UpdatedAt'],
  KpiActual: ['Id', 'TenantId', 'KpiId', 'ActualValue', 'MeasurementDate', 'OriginalValue', 'IsManualOverride', 'OverrideComment', 'DataSource', 'SourceReferenceId', 'TriggersReplan', 'ReplanThresholdExceeded', 'AutoAdjustmentApplied', 'RecordedBy', 'RecordedAt'],
  KpiReading: ['Id', 'TenantId', 'KpiId', 'Value', 'ReadingDate', 'PeriodStart', 'Source', 'ExternalRef', 'Notes', 'ReadBy', 'ReadAt'],
};

const awkwardText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\ud800', 'x\udc00', '😀', 'NULL', 'null', '{"Id":1}', '\\', '"', 'true', 'FALSE', '1e400', '-0'),
);
const numberText = fc.oneof(
  fc.stringMatching(/^-?\d{1,40}(\.\d{1,40})?([eE][+-]?\d{1,6})?$/),
  fc.constantFrom('NaN', 'Infinity', '-0', '+1', '.5', '1.', '0x10', '', ' 7 ', '9'.repeat(140_000)),
  fc.string({ maxLength: 8 }),
);
const guidText = fc.oneof(
  fc.constantFrom(TENANT, KPI, USER, TENANT.toUpperCase(), `{${KPI}}`, ` ${USER} `),
  fc.uuid(),
  fc.string({ maxLength: 40 }),
);
const timestampText = fc.oneof(
  fc.constantFrom('2024-01-02T03:04:05Z', '2024-06-30', '2024-02-30', '2024-01-02T03:04:05+14:00', '2024-01-02T03:04:05.1234567Z', '0000-01-01', '99999-01-01T00:00:00Z', 'yesterday'),
  fc.date({ noInvalidDate: true, min: new Date(-8_000_000_000_000_000), max: new Date(8_000_000_000_000_000) }).map((d) => d.toISOString()),
);

const legacyValue: fc.Arbitrary<LegacyValue> = fc.letrec<{ value: LegacyValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    awkwardText,
    numberText.map((t) => new LegacyNumber(t)),
    fc.uint8Array({ maxLength: 8 }),
    fc.uniqueArray(awkwardText, { maxLength: 3 }).map((v) => new LegacySet('SS', v)),
    fc.uniqueArray(numberText, { maxLength: 3 }).map((v) => new LegacySet('NS', v.map((t) => new LegacyNumber(t)))),
    fc.array(fc.uint8Array({ maxLength: 4 }), { maxLength: 2 }).map((v) => new LegacySet('BS', v)),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.array(fc.tuple(fc.oneof(awkwardText, fc.constant('__proto__')), tie('value')), { maxLength: 3 }).map((members) => {
      const map: { [name: string]: LegacyValue } = {};
      for (const [name, value] of members) setAttribute(map, name, value);
      return map;
    }),
  ),
})).value;

/** A value that often passes the attribute's coercion, so that items also get migrated. */
function plausible(attribute: string): fc.Arbitrary<LegacyValue> {
  if (attribute === 'Id' || attribute.endsWith('Id') || attribute.endsWith('By') || attribute === 'ReadBy') {
    if (attribute === 'TenantId') return fc.constantFrom(TENANT, TENANT.toUpperCase());
    if (attribute === 'KpiId') return fc.constantFrom(KPI, `{${KPI}}`);
    return guidText;
  }
  if (/Date|At$|PeriodStart/.test(attribute)) return fc.oneof(timestampText, fc.bigInt({ min: -(10n ** 15n), max: 10n ** 16n }).map((n) => new LegacyNumber(String(n))));
  if (/Value|Pct|Weight|Order|Level/.test(attribute)) return fc.oneof(numberText.map((t) => new LegacyNumber(t)), numberText);
  if (/^Is|Triggers|Exceeded/.test(attribute)) return fc.oneof(fc.boolean(), fc.constantFrom('true', 'FALSE', 'yes'), fc.constantFrom(new LegacyNumber('0'), new LegacyNumber('1'), new LegacyNumber('2')));
  if (/Type|Source$/.test(attribute)) return fc.constantFrom('Primary', 'supporting', 'MONITORING', 'Manual', 'integration', 'Import', 'calculated', 'other', '');
  return awkwardText;
}

/** A value the attribute's coercion accepts (text may still hold a NUL: a db_error). */
function valid(attribute: string): fc.Arbitrary<LegacyValue> {
  if (attribute === 'TenantId') return fc.constant(TENANT);
  if (attribute === 'KpiId') return fc.constant(KPI);
  if (attribute === 'Id' || attribute === 'GoalId') return fc.uuid();
  if (attribute.endsWith('Id') || /By$/.test(attribute)) return fc.constantFrom(USER, USER.toUpperCase(), `{${USER}}`);
  if (/Date|At$|PeriodStart/.test(attribute)) return fc.constantFrom('2024-01-02T03:04:05Z', '2024-06-30', '2023-12-31T23:59:59.999+02:00', new LegacyNumber('1704067200000'));
  if (attribute === 'ConfidenceLevel') return fc.integer({ min: 1, max: 5 }).map((n) => new LegacyNumber(String(n)));
  if (attribute === 'DisplayOrder') return fc.integer().map((n) => new LegacyNumber(String(n)));
  if (/Value|Pct|Weight/.test(attribute)) return fc.stringMatching(/^-?\d{1,20}(\.\d{1,18})?$/).map((t) => new LegacyNumber(t));
  if (/^Is|Triggers|Exceeded/.test(attribute)) return fc.boolean();
  if (attribute === 'LinkType') return fc.constantFrom('Primary', 'supporting', 'MONITORING');
  if (/Source$/.test(attribute)) return fc.constantFrom('Manual', 'integration', 'Import', 'calculated');
  return awkwardText;
}

function legacyItem(entity: LegacyEntity): fc.Arbitrary<LegacyItem> {
  const known = ATTRIBUTES[entity].map((attribute) =>
    fc
      .option(
        fc.oneof({ weight: 30, arbitrary: valid(attribute) }, { weight: 2, arbitrary: plausible(attribute) }, { weight: 1, arbitrary: legacyValue }),
        { nil: undefined, freq: 30 },
      )
      .map((value) => [attribute, value] as const),
  );
  const extra = fc.array(fc.tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'Extra', ''), awkwardText), legacyValue), { maxLength: 2 });
  return fc.tuple(fc.tuple(...known), extra).map(([members, extras]) => {
    const item: LegacyItem = {};
    for (const [name, value] of [...members, ...extras]) if (value !== undefined) setAttribute(item, name, value);
    return item;
  });
}

const TABLES = defaultTableNames();

async function writeExport(dir: string, tables: Record<LegacyEntity, LegacyItem[]>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const entity of LEGACY_ENTITIES) {
    const lines = tables[entity].map((item) => `${JSON.stringify({ Item: toDynamoDbJson(toAttributeMap(item)) })}\n`);
    await writeFile(path.join(dir, `${TABLES[entity]}.jsonl`), lines.join(''));
  }
}

describe('fuzzing: random legacy items through extract, transform and load into a real database', () => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof temporaryDirectory>>;

  beforeAll(async () => {
    db = await createTestDatabase();
    work = await temporaryDirectory('fuzz');
  });

  afterAll(async () => {
    await db?.drop();
    await work?.remove();
  });

  it('never anything but a typed MigrateError, never a record unaccounted for', async () => {
    let runs = 0;
    const outcomes = { completed: 0, refused: 0, migrated: 0, rejected: 0 };
    const world = {
      Kpi: fc.constant<LegacyItem[]>([{ Id: KPI, TenantId: TENANT, Name: 'Revenue', OwnerId: USER }]),
      Person: fc.array(legacyItem('Person'), { maxLength: 3 }),
      GoalKpiLink: fc
        .array(legacyItem('GoalKpiLink'), { maxLength: 4 })
        .map((links) => [{ Id: 'e0000000-0000-4000-8000-000000000001', TenantId: TENANT, GoalId: KPI, KpiId: KPI, CreatedBy: USER, CreatedAt: '2024-01-01' } as LegacyItem, ...links]),
      KpiMilestone: fc.array(legacyItem('KpiMilestone'), { maxLength: 8 }),
      KpiActual: fc.array(legacyItem('KpiActual'), { maxLength: 8 }),
      KpiReading: fc.array(legacyItem('KpiReading'), { maxLength: 8 }),
    };
    await fc.assert(
      fc.asyncProperty(fc.record(world), async (tables) => {
        runs += 1;
        const dir = path.join(work.dir, `run-${runs}`);
        await writeExport(dir, tables);
        let runId: string;
        try {
          const result = await runMigration({
            source: createExportSource({ dir, tableNames: TABLES }),
            sql: db.sql,
            targetSchema: 'public',
            environment: 'fuzz',
            batchRows: 5,
            ledgerOptions: {},
            codeVersion: 'test',
            configHash: 'test',
          });
          runId = result.runId;
          outcomes.completed += 1;
        } catch (error) {
          // Only a typed error, and only the one an export file can deserve.
          expect(error).toBeInstanceOf(MigrateError);
          expect((error as MigrateError).code, (error as Error).message).toBe('SOURCE_CORRUPT');
          outcomes.refused += 1;
          return;
        }
        const accounting = await accountingOf(db.sql, runId);
        for (const entity of LEGACY_ENTITIES) {
          const c = accounting[entity]!;
          expect(c.read, `${entity} read`).toBe(tables[entity].length);
          expect(c.read, `${entity}: read = migrated + rejected + skipped`).toBe(c.migrated + c.rejected + c.skipped);
          const kept = Object.values(c.rejectsByReason).reduce((sum, n) => sum + (n ?? 0), 0);
          expect(kept, `${entity}: rejects kept`).toBe(c.rejected);
          if (entity !== 'Kpi' && entity !== 'Person') {
            outcomes.migrated += c.migrated;
            outcomes.rejected += c.rejected;
          }
        }
      }),
      // Fixed in CI; KPI_MIGRATE_FUZZ_RUNS / KPI_MIGRATE_FUZZ_SEED explore further by hand.
      { numRuns: Number(process.env.KPI_MIGRATE_FUZZ_RUNS ?? 30), seed: Number(process.env.KPI_MIGRATE_FUZZ_SEED ?? 20240611), endOnFailure: true },
    );
    console.info(`fuzz: ${runs} runs, ${outcomes.completed} completed, ${outcomes.refused} refused as SOURCE_CORRUPT; records migrated ${outcomes.migrated}, rejected ${outcomes.rejected}`);
    expect(outcomes.migrated).toBeGreaterThan(0);
    expect(outcomes.rejected).toBeGreaterThan(0);
  });
});
