import path from 'node:path';
import { fromAttributeMap, toAttributeMap } from '../src/extract/dynamodb-json.js';
import { writeDynamoDbExport, type AttributeMap } from '../src/extract/export-writer.js';
import { LEGACY_ENTITIES, defaultTableNames, type LegacyEntity } from '../src/model/entities.js';
import { planLegacyData, SEED_EXPORT_TIME, writeIncrementalExports } from '../src/seed/index.js';
import { changedItem } from './changed-state.js';
import { exportRunArgs } from './export-path.js';
import type { BenchDatabases } from './postgres.js';
import { withClient } from './postgres.js';
import { runCliOk } from './processes.js';

export interface ExportSyncFigures {
  runSeconds: number;
  /** Legacy records the run read. */
  runRecords: number;
  /** The first sync, on the full export alone: it reads the run's source image, and applies nothing. */
  imageSeconds: number;
  /** The sync of the two windows. */
  syncSeconds: number;
  /** Changes the sync read from the windows (every write, the interim ones included). */
  changes: number;
  /** Records changed between A and B (1% of them). */
  changedRecords: number;
}

/**
 * `sync --source export` of two consecutive incremental-export windows taking state A (the data
 * set) to state B (1% of its records deleted or edited, as the converge bench changes them), after
 * a run of A's full export. A first sync on the full export alone reads the run's source image
 * (once per run), so that the sync of the windows is timed on its own.
 */
export async function measureExportSync(items: number, work: string, databases: BenchDatabases): Promise<ExportSyncFigures> {
  const plan = planLegacyData({ items, seed: 1 });
  const stateA = {} as Record<LegacyEntity, AttributeMap[]>;
  const stateB = {} as Record<LegacyEntity, AttributeMap[]>;
  let changedRecords = 0;
  for (const entity of LEGACY_ENTITIES) {
    stateA[entity] = [...plan.tableItems(entity)];
    stateB[entity] = [];
    stateA[entity].forEach((attributes, at) => {
      const item = fromAttributeMap(attributes);
      const next = changedItem(entity, item, at);
      if (next !== item) changedRecords += 1;
      if (next !== undefined) stateB[entity].push(next === item ? attributes : toAttributeMap(next));
    });
  }
  const dir = path.join(work, 'export-incremental');
  await writeIncrementalExports(dir, stateA, stateB, { tableNames: defaultTableNames(), exportTime: SEED_EXPORT_TIME, windows: 'consecutive' });
  // The same full export (same ids: the same time and tables) without the windows.
  const fullOnly = path.join(work, 'export-full-only');
  await writeDynamoDbExport(fullOnly, LEGACY_ENTITIES.map((entity) => ({ table: defaultTableNames()[entity], items: stateA[entity], layout: 's3' as const })), { exportTime: SEED_EXPORT_TIME });
  const databaseUrl = await databases.create('sync');
  try {
    const run = await runCliOk('export run (for sync)', exportRunArgs(dir, databaseUrl));
    const syncOf = (exportDir: string) => ['sync', '--source', 'export', '--export-dir', exportDir, '--database-url', databaseUrl, '--run', '1'];
    const image = await runCliOk('sync --source export (the source image alone)', syncOf(fullOnly));
    const sync = await runCliOk('sync --source export', syncOf(dir));
    return await withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{ run: string; sync: string }>(
        `select (select sum(read) from kpi_migrate.run_counts where run_id = 1)::text as run,
                (select sum(read) from kpi_migrate.run_counts where run_id = (select max(id) from kpi_migrate.runs where sync_of = 1))::text as sync`,
      );
      return { runSeconds: run.seconds, runRecords: Number(rows[0]?.run), imageSeconds: image.seconds, syncSeconds: sync.seconds, changes: Number(rows[0]?.sync), changedRecords };
    });
  } finally {
    await databases.drop(databaseUrl);
  }
}
