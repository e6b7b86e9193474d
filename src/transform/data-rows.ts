import type { DataEntity } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { LinkIndex } from './link-index.js';
import { rejectOf } from './legacy-record.js';
import type { MappingResult } from '../model/reject.js';
import type { KpiDataRow } from '../model/rows.js';
import { KPI_DATA_ID_NAMESPACE, uuidV5 } from './uuid-v5.js';

/** The id of a record's row for one of its KPI's links: the first link keeps the legacy Id (contract §3). */
export function kpiDataRowId(entity: DataEntity, legacyId: string, linkId: string, isFirstLink: boolean): string {
  return isFirstLink ? legacyId : uuidV5(KPI_DATA_ID_NAMESPACE, `${entity}:${legacyId}:${linkId}`);
}

/** What a milestone, actual or reading must say to be fanned out. Canonical GUIDs. */
export interface DataRecordKey {
  id: string;
  tenantId: string;
  kpiId: string;
}

/** Columns the same for every link: all but the row id and the link it belongs to. */
export type DataRowContent = Omit<KpiDataRow, 'id' | 'kpi_link_id'>;

/** A data record the fast path vouched for: what to fan it out by, and the columns its rows share. */
export interface TypedDataRecord {
  key: DataRecordKey;
  content: DataRowContent;
}

/** The row id and link of each of a record's rows, in fan-out order (empty: no link, a `no_kpi_link` reject). */
export function fannedRowIds(entity: DataEntity, record: DataRecordKey, links: LinkIndex): { id: string; linkId: string }[] {
  return links.linksOf(record.tenantId, record.kpiId).map((link, index) => ({ id: kpiDataRowId(entity, record.id, link.id, index === 0), linkId: link.id }));
}

/** One kpi_data row per link of the record's KPI in its tenant; no link is a `no_kpi_link` reject. */
export function fanOut(
  entity: DataEntity,
  item: LegacyItem,
  record: DataRecordKey,
  content: DataRowContent,
  links: LinkIndex,
): MappingResult<KpiDataRow> {
  const kpiLinks = links.linksOf(record.tenantId, record.kpiId);
  if (kpiLinks.length === 0) {
    return {
      ok: false,
      reject: rejectOf(entity, item, [
        {
          attribute: 'KpiId',
          reason: 'no_kpi_link',
          message: `no migrated link of KPI ${record.kpiId} in tenant ${record.tenantId}`,
        },
      ]),
    };
  }
  const rows = kpiLinks.map(
    (link, index): KpiDataRow => ({
      id: kpiDataRowId(entity, record.id, link.id, index === 0),
      kpi_link_id: link.id,
      ...content,
    }),
  );
  return { ok: true, rows };
}
