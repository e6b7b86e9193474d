import type { ResolvedConfig } from '../config/resolve.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { MigrateError } from '../errors.js';
import { findTableExport } from '../extract/export-layout.js';
import { createExportSource } from '../extract/export-source.js';
import { EXPORTED_THROUGH, exportedThroughPosition } from '../extract/incremental-export-source.js';
import { exportOriginsOf, recordExportOrigins, type ExportOrigin } from '../load/export-origins.js';
import type { ChangePositions } from '../model/change.js';
import { defaultTableNames, LEGACY_ENTITIES, type TableNames } from '../model/entities.js';
import type { LegacySource } from '../model/source.js';

/**
 * Records, per table, the full export a completed run read from (its id and exportTime): where
 * `sync --source export` continues from. Tables without one (a flat directory, a scan dump)
 * record nothing: a sync from incremental exports refuses them, saying why.
 */
export async function recordFullExportPoints(sql: SqlClient, runId: string, config: ResolvedConfig): Promise<void> {
  const source = config.source;
  if (source?.kind !== 'export') return;
  const tableNames = defaultTableNames(source.tablePrefix, source.tables);
  const origins: ExportOrigin[] = [];
  for (const entity of LEGACY_ENTITIES) {
    const found = await findTableExport(source.dir, tableNames[entity]);
    if (found?.exportTime !== undefined && found.exportId !== undefined) origins.push({ entity, exportId: found.exportId, exportTime: found.exportTime });
  }
  await recordExportOrigins(sql, runId, origins);
}

/**
 * The change positions a sync starts from, each table's EXPORTED_THROUGH being the last window
 * applied or, before any, the run's full export (what the positions of a first sync lack).
 */
export async function positionsFromOrigins(sql: SqlSession, runId: string, from: ChangePositions): Promise<ChangePositions> {
  const positions: ChangePositions = { ...from };
  for (const origin of await exportOriginsOf(sql, runId)) {
    const table = positions[origin.entity] ?? {};
    if (table[EXPORTED_THROUGH] !== undefined) continue;
    positions[origin.entity] = {
      ...table,
      [EXPORTED_THROUGH]: { position: exportedThroughPosition({ time: origin.exportTime, export: origin.exportId, kind: 'full' }), done: false },
    };
  }
  return positions;
}

/**
 * The tables as the run read them, for the sync's source image: the full exports in `dir`, which
 * must be the ones the run recorded (an image of another export is not what the target was
 * derived from).
 */
export async function fullExportImage(sql: SqlSession, runId: string, dir: string, tableNames: TableNames): Promise<LegacySource> {
  const origins = await exportOriginsOf(sql, runId);
  for (const origin of origins) {
    const found = await findTableExport(dir, tableNames[origin.entity]);
    if (found?.exportId !== origin.exportId) {
      throw new MigrateError(
        'RUN_STATE',
        `${tableNames[origin.entity]}: run ${runId} read full export ${origin.exportId}, but ${dir} holds ${found?.exportId === undefined ? 'no full export of it' : `full export ${found.exportId}`}: ` +
          'a first sync reads the run’s own full export (what the target was derived from); put it beside the incremental exports',
      );
    }
  }
  return createExportSource({ dir, tableNames });
}
