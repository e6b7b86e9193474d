import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MigrateError } from '../errors.js';
import {
  DEFAULT_KV_PREFIX,
  LEGACY_ENTITIES,
  defaultTableNames,
  type LegacyEntity,
  type TableNames,
} from '../model/entities.js';
import {
  writeDynamoDbExport,
  writeKvStore,
  writeScanDumps,
  type ExportLayout,
  type SourceManifest,
} from '../extract/export-writer.js';
import { planLegacyData, type AttributeMap, type ExpectedOutcome } from './generate.js';
import { deriveChangedState } from './changes.js';
import { writeIncrementalExports, type WindowSet } from './incremental.js';

export { generateLegacyData, planLegacyData } from './generate.js';
export type { GenerateOptions, GeneratedRecord, LegacyDataPlan, AttributeMap, ExpectedOutcome, TableOutcome } from './generate.js';
export { deriveChangedState, EXPECTED_CHANGES } from './changes.js';
export type { ChangeKind, ChangeOptions, ChangedState, SourceChange, Witness } from './changes.js';
export { changedRecords, INTERIM_ATTRIBUTE, WINDOW_SETS, writeIncrementalExports, type IncrementalSeedOptions, type WindowSet } from './incremental.js';

/** `export`: DynamoDB export files; `dynamodb`: `aws dynamodb scan` dumps (loadable into DynamoDB); `kv`: kv_store JSON lines. */
export type SeedFormat = 'export' | 'dynamodb' | 'kv';

export interface SeedOptions {
  items: number;
  seed: number;
  out: string;
  format: SeedFormat;
  /** For `export`: one layout for all tables, or per entity; default `s3`. */
  layout?: ExportLayout | Partial<Record<LegacyEntity, ExportLayout>>;
  tableNames?: TableNames;
  kvPrefixes?: Record<LegacyEntity, string>;
  tenants?: number;
  /** For `export`: items per data file; default 100,000. */
  itemsPerFile?: number;
  /**
   * For `export`: besides the full export of the data set (state A), incremental exports taking
   * it to a changed state B (deriveChangedState with this seed), in the Export-to-S3 layout.
   */
  incremental?: { changeSeed: number; windows: WindowSet };
}

export interface SeedResult {
  out: string;
  format: SeedFormat;
  expected: ExpectedOutcome;
  manifest: SourceManifest;
}

/** The kv_store file a `kv` seed writes into `out`. */
export const KV_STORE_FILE = 'kv_store.jsonl';

/**
 * Seeds are reproducible to the byte: the export's time is fixed, not the clock's, so the
 * same options always write the same files.
 */
export const SEED_EXPORT_TIME = new Date('2024-01-01T00:00:00.000Z');

/**
 * Generates a legacy data set and writes it into `out` in one source format, with
 * `expected.json` (the outcome a correct migration reports) beside it.
 */
export async function seed(options: SeedOptions): Promise<SeedResult> {
  if (!['export', 'dynamodb', 'kv'].includes(options.format)) {
    throw new MigrateError('USAGE', `format must be export, dynamodb or kv (got ${String(options.format)})`);
  }
  const plan = planLegacyData({
    items: options.items,
    seed: options.seed,
    ...(options.tenants === undefined ? {} : { tenants: options.tenants }),
    // jsonb cannot hold \u0000: a kv_store never contains the db_error records.
    nulInText: options.format !== 'kv',
  });
  const tableNames = options.tableNames ?? defaultTableNames();
  const out = path.resolve(options.out);
  await mkdir(out, { recursive: true });

  let manifest: SourceManifest;
  if (options.incremental !== undefined && options.format !== 'export') {
    throw new MigrateError('USAGE', `incremental exports are export files: use format export (got ${options.format})`);
  }
  if (options.incremental !== undefined) {
    if (options.layout !== undefined && options.layout !== 's3') throw new MigrateError('USAGE', 'incremental exports sit beside their full export: use the s3 layout');
    const stateA = Object.fromEntries(LEGACY_ENTITIES.map((entity) => [entity, [...plan.tableItems(entity)]])) as Record<LegacyEntity, AttributeMap[]>;
    const stateB = deriveChangedState(plan, { seed: options.incremental.changeSeed }).tables;
    ({ full: manifest } = await writeIncrementalExports(out, stateA, stateB, {
      tableNames,
      exportTime: SEED_EXPORT_TIME,
      windows: options.incremental.windows,
      ...(options.itemsPerFile === undefined ? {} : { itemsPerFile: options.itemsPerFile }),
    }));
  } else if (options.format === 'export') {
    const layoutOf = (entity: LegacyEntity): ExportLayout =>
      typeof options.layout === 'string' ? options.layout : (options.layout?.[entity] ?? 's3');
    manifest = await writeDynamoDbExport(
      out,
      LEGACY_ENTITIES.map((entity) => ({ table: tableNames[entity], items: plan.tableItems(entity), layout: layoutOf(entity) })),
      { exportTime: SEED_EXPORT_TIME, ...(options.itemsPerFile === undefined ? {} : { itemsPerFile: options.itemsPerFile }) },
    );
  } else if (options.format === 'dynamodb') {
    manifest = await writeScanDumps(
      out,
      LEGACY_ENTITIES.map((entity) => ({ table: tableNames[entity], items: plan.tableItems(entity) })),
      SEED_EXPORT_TIME,
    );
  } else {
    const prefixes = options.kvPrefixes ?? DEFAULT_KV_PREFIX;
    manifest = await writeKvStore(
      out,
      KV_STORE_FILE,
      LEGACY_ENTITIES.map((entity) => ({ prefix: prefixes[entity], items: plan.tableItems(entity) })),
      SEED_EXPORT_TIME,
    );
  }
  const expected = plan.expected();
  await writeFile(path.join(out, 'expected.json'), `${JSON.stringify(expected, null, 2)}\n`);
  return { out, format: options.format, expected, manifest };
}
