import type { DataEntity } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import { FlatItem } from '../model/dynamodb-json.js';
import type { LinkIndex } from './link-index.js';
import { rejectOf, type ParsedRecord, type TypedItem } from './legacy-record.js';
import { columnValue, compileFields, type ColumnSource, type CompiledSchema } from './compiled-fields.js';
import type { CopyValue } from '../model/copy-field.js';
import type { MappingResult } from '../model/reject.js';
import { KPI_DATA_COLUMNS, type KpiDataRow } from '../model/rows.js';
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

/** A data record the fast path vouched for: what to fan it out by, and the COPY fields its rows share. */
export interface TypedDataRecord {
  key: DataRecordKey;
  /** The COPY fields of SHARED_DATA_COLUMNS, joined by tabs: every row of the record ends with them. */
  sharedFields: string;
  /** The record's Id as written (its rows' source_id). */
  sourceId: string;
}

/** kpi_data's columns after `id` and `kpi_link_id`: the same for every row a record fans out to. */
export const SHARED_DATA_COLUMNS = KPI_DATA_COLUMNS.slice(2) as Exclude<(typeof KPI_DATA_COLUMNS)[number], 'id' | 'kpi_link_id'>[];
if (KPI_DATA_COLUMNS[0] !== 'id' || KPI_DATA_COLUMNS[1] !== 'kpi_link_id') throw new Error('kpi_data must begin with id, kpi_link_id');

/** Where each shared column of a data entity's rows comes from (contract §3). */
export type DataColumnPlan<Attribute extends string> = Record<(typeof SHARED_DATA_COLUMNS)[number], ColumnSource<Attribute>>;

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
 * what to fan out and the COPY fields its rows share, undefined where it cannot vouch), both from
 * one schema and one column plan.
 */
export function dataEntityMapping<Parsed extends DataRecordFields>(
  entity: DataEntity,
  schema: { parse(item: LegacyItem): ParsedRecord<Parsed> } & CompiledSchema,
  plan: DataColumnPlan<Extract<keyof Parsed, string>>,
): {
  map(item: LegacyItem, links: LinkIndex): MappingResult<KpiDataRow>;
  flat(item: FlatItem): TypedDataRecord | undefined;
  typed(typed: TypedItem): TypedDataRecord | undefined;
} {
  const keyOf = (record: Parsed): DataRecordKey => ({ id: record.Id, tenantId: record.TenantId, kpiId: record.KpiId });
  const sources = SHARED_DATA_COLUMNS.map((column) => plan[column]);
  const contentOf = (record: Parsed, sourceId: string, legacyExtra: string): DataRowContent => {
    const content: Record<string, CopyValue> = {};
    SHARED_DATA_COLUMNS.forEach((column, at) => (content[column] = columnValue(sources[at]!, record as unknown as Record<string, unknown>, sourceId, legacyExtra)));
    return content as unknown as DataRowContent;
  };
  const scratch = new FlatItem();
  const fields = compileFields(schema, sources, ['Id', 'TenantId', 'KpiId'] as Extract<keyof Parsed, string>[]);
  return {
    map(item, links) {
      const parsed = schema.parse(item);
      if (!parsed.ok) return { ok: false, reject: parsed.reject };
      return fanOut(entity, item, keyOf(parsed.record), contentOf(parsed.record, item.Id as string, parsed.legacyExtra), links);
    },
    flat,
    typed: (typed) => flat(scratch.fill(typed)),
  };
  function flat(item: FlatItem): TypedDataRecord | undefined {
    const compiled = fields(item);
    if (compiled === undefined) return undefined;
    const [id, tenantId, kpiId] = compiled.keys as [string, string, string];
    return { key: { id, tenantId, kpiId }, sharedFields: compiled.fields, sourceId: compiled.sourceId };
  }
}
