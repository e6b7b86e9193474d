import type { DataEntity } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { LinkIndex } from './link-index.js';
import { rejectOf, type ParsedRecord, type TypedItem, type TypedParse } from './legacy-record.js';
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

/** What a data entity's legacy schema parses a record into: at least the keys it fans out by. */
interface DataRecordFields {
  Id: string;
  TenantId: string;
  KpiId: string;
}

/**
 * A data entity's full mapping (item → rows, or the reject) and its fast path (typed attributes →
 * what to fan out, undefined where it cannot vouch), both from one schema and one content function.
 */
export function dataEntityMapping<Parsed extends DataRecordFields>(
  entity: DataEntity,
  schema: { parse(item: LegacyItem): ParsedRecord<Parsed>; parseTyped(typed: TypedItem): TypedParse<Parsed> },
  contentOf: (record: Parsed, sourceId: string, legacyExtra: string) => DataRowContent,
): { map(item: LegacyItem, links: LinkIndex): MappingResult<KpiDataRow>; typed(typed: TypedItem): TypedDataRecord | undefined } {
  const keyOf = (record: Parsed): DataRecordKey => ({ id: record.Id, tenantId: record.TenantId, kpiId: record.KpiId });
  return {
    map(item, links) {
      const parsed = schema.parse(item);
      if (!parsed.ok) return { ok: false, reject: parsed.reject };
      return fanOut(entity, item, keyOf(parsed.record), contentOf(parsed.record, item.Id as string, parsed.legacyExtra), links);
    },
    typed(typed) {
      const parsed = schema.parseTyped(typed);
      if (parsed === undefined) return undefined;
      return { key: keyOf(parsed.record), content: contentOf(parsed.record, (typed.Id as { S: string }).S, parsed.legacyExtra) };
    },
  };
}
