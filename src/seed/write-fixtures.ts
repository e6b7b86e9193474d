import { copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../package-root.js';
import type { LegacyEntity } from '../model/entities.js';
import type { ExportLayout } from '../extract/export-writer.js';
import { seed } from './index.js';

/** fixtures/small: about 300 fact items of seed 1, in every source format. */
export const SMALL_FIXTURE = { items: 300, seed: 1 } as const;

/** Half the tables in each export layout, so both readers meet the same data set. */
export const SMALL_FIXTURE_LAYOUT: Record<LegacyEntity, ExportLayout> = {
  Kpi: 's3',
  Person: 'flat',
  GoalKpiLink: 's3',
  KpiMilestone: 'flat',
  KpiActual: 's3',
  KpiReading: 'flat',
};

/** Small enough that most tables span several data files. */
export const SMALL_FIXTURE_ITEMS_PER_FILE = 40;

export const SMALL_FIXTURE_DIR = path.join(packageRoot, 'fixtures', 'small');

/**
 * (Re)writes the small fixture set: `export/`, `scan/`, `kv/` (each with its expected.json)
 * and `expected.json` (the export's and scan's; the kv form lacks the db_error records).
 */
export async function writeSmallFixtures(dir: string = SMALL_FIXTURE_DIR): Promise<void> {
  for (const stale of ['export', 'scan', 'kv', 'expected.json']) await rm(path.join(dir, stale), { recursive: true, force: true });
  await seed({
    ...SMALL_FIXTURE,
    out: path.join(dir, 'export'),
    format: 'export',
    layout: SMALL_FIXTURE_LAYOUT,
    itemsPerFile: SMALL_FIXTURE_ITEMS_PER_FILE,
  });
  await seed({ ...SMALL_FIXTURE, out: path.join(dir, 'scan'), format: 'dynamodb' });
  await seed({ ...SMALL_FIXTURE, out: path.join(dir, 'kv'), format: 'kv' });
  await copyFile(path.join(dir, 'export', 'expected.json'), path.join(dir, 'expected.json'));
}
