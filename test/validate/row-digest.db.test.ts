import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCopyRows } from '../../src/load/copy-text.js';
import { coerceDecimal, coerceTimestamp, KPI_DATA_COLUMNS, legacyExtraText, LegacyNumber, type KpiDataRow } from '../../src/transform/index.js';
import { rowHashOf } from '../../src/validate/row-digest.js';
import { RowReconciliation } from '../../src/validate/row-reconciliation.js';
import { hashTextExtended } from '../../src/validate/text-hash.js';
import { CONTRACT_COLUMNS } from '../../src/validate/target-columns.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const LINK = '11111111-2222-4333-8444-555555555555';

// Values as the transform writes them, from legacy inputs in their messy forms.
const decimal = fc
  .oneof(fc.bigInt({ min: -(10n ** 38n), max: 10n ** 38n }).map(String), fc.stringMatching(/^-?[0-9]{1,20}\.[0-9]{1,18}$/), fc.stringMatching(/^[0-9]\.[0-9]{1,5}[eE][+-]?[0-9]{1,2}$/))
  .map((text) => coerceDecimal(new LegacyNumber(text)))
  .filter((c) => c.ok)
  .map((c) => (c as { value: string }).value);
const timestamp = fc
  .oneof(
    fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_000 }).map(String).map((ms) => new LegacyNumber(ms)),
    fc.tuple(fc.integer({ min: 1, max: 12000 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), fc.stringMatching(/^[0-9]{0,9}$/), fc.constantFrom('Z', '+05:30', '-11:00'))
      .map(([y, m, d, f, z]) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}T12:34:56${f ? `.${f}` : ''}${z}`),
  )
  .map((value) => coerceTimestamp(value))
  .filter((c) => c.ok)
  .map((c) => (c as { value: { text: string } }).value.text);
const text = fc.string({ unit: fc.oneof(fc.constantFrom('é', '€', '😀', '\t', '\n', '\\', '|', ':', '~', '1', 'a'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 10 })
  .filter((s) => !s.includes('\u0000'));
const extra = fc.dictionary(fc.string({ maxLength: 4 }).filter((k) => !k.includes('\u0000')), fc.oneof(text, decimal.map((d) => new LegacyNumber(d)), fc.boolean()), { maxKeys: 4 })
  .map((members) => legacyExtraText(Object.entries(members)));

const row = fc.record({
  id: fc.uuid({ version: 4 }),
  post_value: decimal,
  post_date: timestamp,
  measured_period_start_date: fc.option(timestamp),
  label: fc.option(text),
  confidence_level: fc.option(fc.integer({ min: 1, max: 5 })),
  original_value: fc.option(decimal),
  is_manual_override: fc.option(fc.boolean()),
  recorded_by: fc.option(text),
  legacy_extra: extra,
}).map((r): KpiDataRow => ({
  kpi_link_id: LINK, data_category: 'actual', target_subtype: null, actual_subtype: 'measured', rationale: null, override_comment: null,
  data_source: 'manual', source_reference_id: null, triggers_replan: false, replan_threshold_exceeded: null, auto_adjustment_applied: 'true',
  recorded_at: r.post_date, created_by: r.recorded_by, created_at: r.post_date, updated_by: null, updated_at: null,
  source_entity: 'KpiActual', source_id: r.id.toUpperCase(), ...r,
}));

describe('row checksums: the same in JS (expected rows) and in SQL (target rows)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.sql.query(
      `insert into kpi_links (id, tenant_id, kpi_id, person_id, link_type, is_primary, created_by, created_at, source_entity, source_id, first_run_id, last_run_id)
       values ($1::uuid, $1::uuid, $1::uuid, $1::uuid, 'primary', true, $1::uuid, now(), 'GoalKpiLink', $1::text, 1, 1)`,
      [LINK],
    );
  });
  afterAll(async () => {
    await db.drop();
  });

  it('hash a text as the server’s hashtextextended does (its UTF-8 bytes), so rowHashOf takes the server’s hash', async () => {
    expect(await rowHashOf(db.sql)).toBe('hashtext');
    const halves = new Uint32Array(2);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: fc.oneof(fc.constantFrom('a', 'é', '😀', '\uD800', '~', ':'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 40 }).filter((t) => !t.includes('\u0000')), { minLength: 1, maxLength: 30 }), async (texts) => {
        const { rows } = await db.sql.query<{ h: string }>(`select hashtextextended(t collate "C", 0)::text as h from unnest($1::text[]) with ordinality as texts(t, n) order by n`, [texts]);
        expect(
          texts.map((text) => {
            hashTextExtended(text, halves);
            return BigInt.asIntN(64, (BigInt(halves[0]!) << 32n) | BigInt(halves[1]!)).toString();
          }),
        ).toEqual(rows.map((row) => row.h));
      }),
      { numRuns: 40 },
    );
  });

  it.each(['hashtext', 'md5'] as const)('for rows of every kind of value the transform writes (%s)', async (hash) => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(row, { selector: (r) => r.id, minLength: 1, maxLength: 25 }), async (rows) => {
        await db.sql.transaction(async (tx) => {
          await tx.query('delete from kpi_data');
          await tx.copyFrom('public.kpi_data', [...KPI_DATA_COLUMNS, 'first_run_id', 'last_run_id'], encodeCopyRows(rows.map((r) => ({ ...r, first_run_id: 1, last_run_id: 1 })), [...KPI_DATA_COLUMNS, 'first_run_id', 'last_run_id']));
        });
        const reconciliation = new RowReconciliation('kpi_data', CONTRACT_COLUMNS.kpi_data, hash);
        for (const r of rows) reconciliation.add(r);
        const plan = await reconciliation.compareBuckets(db.sql, { schema: 'public' });
        const differences = plan === undefined ? [] : (await (async () => {
          // Show what differs, not only that a bucket does.
          const drill = new RowReconciliation('kpi_data', CONTRACT_COLUMNS.kpi_data, hash);
          for (const r of rows) drill.add(r);
          await drill.compareBuckets(db.sql, { schema: 'public' });
          for (const r of rows) drill.addForDrill(r);
          return (await drill.differences(db.sql, { schema: 'public' }, 5, 'test')).listed;
        })());
        expect(differences).toEqual([]);
        expect(plan).toBeUndefined();
      }),
      { numRuns: 40 },
    );
  });
});
