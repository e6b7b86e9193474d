import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createExportSource } from '../../src/extract/export-source.js';
import { DATA_ENTITIES, defaultTableNames, MIGRATED_ENTITIES, type DataEntity, type MigratedEntity } from '../../src/model/entities.js';
import type { RejectReason } from '../../src/model/reject.js';
import type { LegacySource } from '../../src/model/source.js';
import { readLinkLookups } from '../../src/reading/lookups.js';
import { itemsOf } from '../../src/reading/read-all.js';
import { seed } from '../../src/seed/index.js';
import { canonicalTenantOf, LinkIndex } from '../../src/transform/index.js';
import { expectData, expectLinks } from '../../src/validate/expectations.js';
import { mapFacts } from '../../src/validate/fact-pass.js';
import type { SampledRecord } from '../../src/validate/samples.js';
import { PassTotals } from '../../src/validate/pass-totals.js';
import { LedgerPass } from '../../src/validate/reject-ledger.js';
import { CONTRACT_COLUMNS, KEY_COLUMNS } from '../../src/validate/target-columns.js';

const RUN = '5';
const LIMIT = 5;
const SAMPLE = { size: 40, seed: 3 };
const IN_WORKER: DataEntity[] = ['KpiActual', 'KpiReading'];

let work: string;
let source: LegacySource;
/** Rejects of a run that never happened: some records' own, some of records the source lacks, refused links. */
let rejects: [string, RejectReason[]][];
let refusedLinks: string[];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'kpi-fact-pass-'));
  await seed({ items: 3000, seed: 11, out: work, format: 'export' });
  source = createExportSource({ dir: work, tableNames: defaultTableNames() });
  const ids: Record<MigratedEntity, string[]> = { GoalKpiLink: [], KpiMilestone: [], KpiActual: [], KpiReading: [] };
  for (const entity of MIGRATED_ENTITIES) for await (const item of itemsOf(source, entity)) if (typeof item.Id === 'string') ids[entity].push(item.Id);
  refusedLinks = ids.GoalKpiLink.slice(0, 3);
  rejects = [
    ...refusedLinks.map((id): [string, RejectReason[]] => [`GoalKpiLink\u0000${id}`, ['id_conflict']]),
    ...DATA_ENTITIES.flatMap((entity) => [
      ...ids[entity].slice(0, 4).map((id, at): [string, RejectReason[]] => [`${entity}\u0000${id}`, [(['invalid_value', 'db_error', 'missing_field', 'no_kpi_link'] as const)[at]!]]),
      [`${entity}\u0000no-such-record`, ['invalid_id']] as [string, RejectReason[]],
    ]),
  ];
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** What validateMigration's pass adds up in one thread: the links, then every fact table, then the rejects none took. */
async function inOneThread(full: boolean, tenant: string | undefined): Promise<PassTotals> {
  const totals = new PassTotals(full ? CONTRACT_COLUMNS : KEY_COLUMNS, LIMIT, SAMPLE);
  const { lookups } = await readLinkLookups(source);
  const pass = new LedgerPass(RUN, new Map(rejects.map(([key, reasons]) => [key, [...reasons]])));
  const links = await expectLinks(source, lookups, pass, { ...(tenant === undefined ? {} : { tenant }), refusedLinks }, (e) => void totals.add(e));
  for (const entity of DATA_ENTITIES) await expectData(source, entity, links, pass, tenant, (e) => void totals.add(e));
  for (const entity of MIGRATED_ENTITIES) for (const difference of pass.leftovers(entity)) totals.tallies[entity].differences.add(difference);
  return totals;
}

/** The same with two fact tables mapped by mapFacts (as a worker thread does, over this thread's link index) and merged. */
async function split(full: boolean, tenant: string | undefined): Promise<{ totals: PassTotals; mapped: Map<DataEntity, SampledRecord[]> }> {
  const totals = new PassTotals(full ? CONTRACT_COLUMNS : KEY_COLUMNS, LIMIT, SAMPLE);
  const { lookups } = await readLinkLookups(source);
  const pass = new LedgerPass(RUN, new Map(rejects.map(([key, reasons]) => [key, [...reasons]])));
  const links = await expectLinks(source, lookups, pass, { ...(tenant === undefined ? {} : { tenant }), refusedLinks }, (e) => void totals.add(e));
  const here = MIGRATED_ENTITIES.filter((entity) => !IN_WORKER.includes(entity as DataEntity));
  for (const entity of DATA_ENTITIES) if (here.includes(entity)) await expectData(source, entity, links, pass, tenant, (e) => void totals.add(e));
  for (const entity of here) for (const difference of pass.leftovers(entity)) totals.tallies[entity].differences.add(difference);
  const mapped = new Map<DataEntity, SampledRecord[]>();
  // The worker maps over the index this thread built, as it crosses threads.
  const crossedLinks = LinkIndex.fromWire(structuredClone(links.toWire()));
  const wire = await mapFacts(source, {
    entities: IN_WORKER,
    ...(tenant === undefined ? {} : { tenant }),
    runId: RUN,
    rejects: rejects.filter(([key]) => IN_WORKER.some((entity) => key.startsWith(`${entity}\u0000`))),
    full,
    limit: LIMIT,
    rowHash: 'hashtext',
    sample: SAMPLE,
  }, Promise.resolve(crossedLinks), (entity, candidates) => mapped.set(entity, structuredClone(candidates)));
  totals.merge(structuredClone(wire));
  return { totals, mapped };
}

function described(totals: PassTotals): unknown {
  return {
    tallies: MIGRATED_ENTITIES.map((entity) => {
      const { seconds: _seconds, differences, ...tally } = totals.tallies[entity];
      return { entity, ...tally, listed: differences.listed, found: differences.found };
    }),
    sample: totals.sampler.chosen(),
    figures: (['kpi_links', 'kpi_data'] as const).map((table) => {
      const { expected } = totals.reconciliations[table];
      return { table, rows: expected.rows, buckets: [...expected.buckets].sort(([a], [b]) => (a < b ? -1 : 1)) };
    }),
  };
}

describe('fact tables mapped apart (a validation’s fact worker) and merged', () => {
  test('add up to what one pass over every table adds up: tallies, differences, rejects none took, sample and bucket figures', async () => {
    const expected = await inOneThread(false, undefined);
    expect(expected.tallies.KpiActual.differences.found).toBeGreaterThan(LIMIT);
    expect(expected.tallies.KpiActual.refused).toBeGreaterThan(0);
    const { totals, mapped } = await split(false, undefined);
    expect(described(totals)).toEqual(described(expected));
    // Each table's candidates, given as its pass ended, hold the whole sample's records of that table.
    expect([...mapped.keys()]).toEqual(IN_WORKER);
    for (const entity of IN_WORKER) {
      const sampled = totals.sampler.chosen().filter((record) => record.entity === entity);
      expect(sampled.length).toBeGreaterThan(0);
      expect(mapped.get(entity)).toEqual(expect.arrayContaining(sampled));
      expect(mapped.get(entity)!.every((record) => record.entity === entity)).toBe(true);
    }
  });

  test('the same for a tenant’s run, comparing every column', async () => {
    let tenant: string | undefined;
    for await (const item of itemsOf(source, 'GoalKpiLink')) if ((tenant = canonicalTenantOf(item)) !== undefined) break;
    const expected = await inOneThread(true, tenant);
    expect(expected.tallies.KpiActual.skipped).toBeGreaterThan(0);
    expect(described((await split(true, tenant)).totals)).toEqual(described(expected));
  });
});
