import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { targetFailure } from '../db/database-error.js';
import type { LegacyEntity } from '../model/entities.js';

/** The full export a run read a table from: the point its incremental exports continue from. */
export interface ExportOrigin {
  entity: LegacyEntity;
  exportId: string;
  /** ISO-8601, as the export's manifest-summary.json spells it. */
  exportTime: string;
}

/** Records the run's export origins, once: a resumed run that completes again changes nothing. */
export async function recordExportOrigins(sql: SqlClient, runId: string, origins: readonly ExportOrigin[]): Promise<void> {
  if (origins.length === 0) return;
  try {
    await sql.query(
      `insert into kpi_migrate.export_origins (run_id, entity, export_id, export_time)
       select $1::bigint, o.entity, o.export_id, o.export_time from jsonb_to_recordset($2::jsonb) as o(entity text, export_id text, export_time text)
       on conflict (run_id, entity) do nothing`,
      [runId, JSON.stringify(origins.map((o) => ({ entity: o.entity, export_id: o.exportId, export_time: o.exportTime })))],
    );
  } catch (error) {
    throw targetFailure(error, `recording the export origins of run ${runId}`);
  }
}

export async function exportOriginsOf(sql: SqlSession, runId: string): Promise<ExportOrigin[]> {
  try {
    const { rows } = await sql.query<{ entity: LegacyEntity; export_id: string; export_time: string }>(
      'select entity, export_id, export_time from kpi_migrate.export_origins where run_id = $1::bigint order by entity',
      [runId],
    );
    return rows.map((row) => ({ entity: row.entity, exportId: row.export_id, exportTime: row.export_time }));
  } catch (error) {
    throw targetFailure(error, `reading the export origins of run ${runId}`);
  }
}
