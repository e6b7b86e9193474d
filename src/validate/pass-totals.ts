import { MIGRATED_ENTITIES, type MigratedEntity } from '../model/entities.js';
import { tableOf, type EntityTally } from './checks.js';
import { FannedRows, type RecordExpectation } from './expectations.js';
import { DifferenceList, type Difference } from './report.js';
import type { BucketFigures, RowHash } from './row-digest.js';
import { RowReconciliation } from './row-reconciliation.js';
import { SampleChooser, type SampledRecord } from './samples.js';
import type { TargetTableName } from './target-columns.js';

/** What a pass in another thread added up, as it crosses to this one (structured clone). */
export interface PassTotalsWire {
  tallies: { entity: MigratedEntity; tally: Omit<EntityTally, 'differences'>; differences: { listed: Difference[]; found: number } }[];
  /** Its sample's candidates: the whole sample's are among the union of each pass's. */
  candidates: SampledRecord[];
  /** Expected bucket figures per table, by bucket. */
  figures: Record<TargetTableName, [string, BucketFigures][]>;
}

/**
 * What the pass over the source adds up for the checks, whichever thread reads the records: each
 * entity's tally, the sample's candidates and each table's expected bucket figures. Passes over
 * different entities add up separately and merge exactly (sums, counts, the sample's order).
 */
export class PassTotals {
  readonly tallies: Record<MigratedEntity, EntityTally>;
  readonly sampler: SampleChooser;
  readonly reconciliations: Record<TargetTableName, RowReconciliation>;

  constructor(
    columns: Record<TargetTableName, readonly string[]>,
    readonly limit: number,
    sample: { size: number; seed: number },
    hash: RowHash = 'hashtext',
  ) {
    this.tallies = Object.fromEntries(
      MIGRATED_ENTITIES.map((entity) => [entity, { streamed: 0, skipped: 0, migrated: 0, rejected: 0, refused: 0, expectedRows: 0, differences: new DifferenceList(limit), seconds: 0 }]),
    ) as Record<MigratedEntity, EntityTally>;
    this.sampler = new SampleChooser(sample.size, sample.seed);
    this.reconciliations = {
      kpi_links: new RowReconciliation('kpi_links', columns.kpi_links, hash),
      kpi_data: new RowReconciliation('kpi_data', columns.kpi_data, hash),
    };
  }

  /** Counts one record's expectation; true when it is migrated (its rows were added to its table's figures). */
  add(expectation: RecordExpectation): boolean {
    const tally = this.tallies[expectation.entity];
    tally.streamed += 1;
    if (expectation.outcome === 'skipped') {
      tally.skipped += 1;
      return false;
    }
    if (expectation.sourceId !== null) this.sampler.offer(expectation.entity, expectation.sourceId);
    if (expectation.difference !== undefined) tally.differences.add(expectation.difference);
    if (expectation.outcome !== 'migrated') {
      tally[expectation.outcome] += 1;
      return false;
    }
    tally.migrated += 1;
    tally.expectedRows += expectation.rows.length;
    const reconciliation = this.reconciliations[tableOf(expectation.entity)];
    if (expectation.rows instanceof FannedRows) reconciliation.addFanned(expectation.rows);
    else for (const row of expectation.rows) reconciliation.add(row);
    return true;
  }

  /** What was added up for these entities (the only ones this pass read), to merge into another thread's totals. */
  toWire(entities: readonly MigratedEntity[]): PassTotalsWire {
    return {
      tallies: entities.map((entity) => {
        const { differences, ...tally } = this.tallies[entity];
        return { entity, tally, differences: { listed: differences.listed, found: differences.found } };
      }),
      candidates: this.sampler.chosen(),
      figures: {
        kpi_links: [...this.reconciliations.kpi_links.expected.buckets],
        kpi_data: [...this.reconciliations.kpi_data.expected.buckets],
      },
    };
  }

  /** Adds what a pass over other entities added up (in another thread): their tallies are taken whole. */
  merge(wire: PassTotalsWire): void {
    for (const { entity, tally, differences } of wire.tallies) {
      const list = new DifferenceList(this.limit);
      list.listed.push(...differences.listed);
      list.found = differences.found;
      this.tallies[entity] = { ...tally, differences: list };
    }
    for (const { entity, sourceId } of wire.candidates) this.sampler.offer(entity, sourceId);
    for (const table of ['kpi_links', 'kpi_data'] as const) {
      for (const [bucket, figures] of wire.figures[table]) this.reconciliations[table].expected.addFigures(bucket, figures);
    }
  }
}
