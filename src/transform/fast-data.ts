// The migrated entities' fast path as readers of whole pages use it (a run's reader, validation), and
// its output read back as row values. Apart from data-rows.ts, which the entity files import.
import type { FlatItem, TypedItem } from '../model/dynamodb-json.js';
import type { DataEntity } from '../model/entities.js';
import { KPI_LINK_COLUMNS, type KpiDataRow, type KpiLinkRow } from '../model/rows.js';
import type { TypedSourcePage } from '../model/source.js';
import { SHARED_DATA_COLUMNS, type TypedDataRecord } from './data-rows.js';
import { flatGoalKpiLink, typedGoalKpiLink, type FlatLinkRecord } from './goal-kpi-link.js';
import { flatKpiActual, typedKpiActual } from './kpi-actual.js';
import type { PersonResolution } from './lookups.js';
import { flatKpiMilestone, typedKpiMilestone } from './kpi-milestone.js';
import { flatKpiReading, typedKpiReading } from './kpi-reading.js';

/** A data entity's fast path on item `index` of a typed page: read flat when the page can, typed otherwise; undefined where it does not vouch. */
export function fastDataRecord(entity: DataEntity, page: TypedSourcePage, index: number, flat: FlatItem): TypedDataRecord | undefined {
  if (page.flat?.(index, flat)) return FLAT_MAPPERS[entity](flat);
  const typed = page.typed(index);
  return typed === undefined ? undefined : TYPED_MAPPERS[entity](typed);
}

/** A link's fast path on item `index` of a typed page, read flat when the page can. */
export function fastLinkRecord(page: TypedSourcePage, index: number, flat: FlatItem, lookups: PersonResolution): FlatLinkRecord | undefined {
  if (page.flat?.(index, flat)) return flatGoalKpiLink(flat, lookups);
  const typed = page.typed(index);
  return typed === undefined ? undefined : typedGoalKpiLink(typed, lookups);
}

const FLAT_MAPPERS: Record<DataEntity, (item: FlatItem) => TypedDataRecord | undefined> = {
  KpiMilestone: flatKpiMilestone,
  KpiActual: flatKpiActual,
  KpiReading: flatKpiReading,
};

const TYPED_MAPPERS: Record<DataEntity, (typed: TypedItem) => TypedDataRecord | undefined> = {
  KpiMilestone: typedKpiMilestone,
  KpiActual: typedKpiActual,
  KpiReading: typedKpiReading,
};

const COPY_ESCAPE = /\\(.)/g;
const COPY_UNESCAPED: Record<string, string> = { t: '\t', n: '\n', r: '\r', '\\': '\\' };

/** A COPY field read back: encodeCopyValue undone (`\\N` is null; only the four escapes it writes). */
function text(field: string): string | null {
  if (field === '\\N') return null;
  return field.includes('\\') ? field.replace(COPY_ESCAPE, (_, escaped: string) => COPY_UNESCAPED[escaped] ?? escaped) : field;
}

function flag(field: string): boolean | null {
  return field === '\\N' ? null : field === 't';
}

function integer(field: string): number | null {
  return field === '\\N' ? null : Number(field);
}

/**
 * The rows of a record the fast path vouched for, as the full path's mapping gives them: its
 * shared COPY fields read back, each row with its id and link. For a reader of row values
 * (validation). Spelled out column by column: one object shape for every row.
 */
export function dataRowsOf(record: TypedDataRecord, rows: readonly { id: string; linkId: string }[]): KpiDataRow[] {
  const f = record.sharedFields.split('\t');
  if (f.length !== SHARED_DATA_COLUMNS.length) throw new TypeError(`${f.length} shared fields for ${SHARED_DATA_COLUMNS.length} columns`);
  // Typed as the full path types them; the property test holds the two to the same values.
  return rows.map(
    (row) =>
      ({
        id: row.id,
        kpi_link_id: row.linkId,
        data_category: text(f[0]!),
        target_subtype: text(f[1]!),
        actual_subtype: text(f[2]!),
        post_value: text(f[3]!),
        post_date: text(f[4]!),
        measured_period_start_date: text(f[5]!),
        label: text(f[6]!),
        confidence_level: integer(f[7]!),
        rationale: text(f[8]!),
        original_value: text(f[9]!),
        is_manual_override: flag(f[10]!),
        override_comment: text(f[11]!),
        data_source: text(f[12]!),
        source_reference_id: text(f[13]!),
        triggers_replan: flag(f[14]!),
        replan_threshold_exceeded: flag(f[15]!),
        auto_adjustment_applied: text(f[16]!),
        recorded_by: text(f[17]!),
        recorded_at: text(f[18]!),
        created_by: text(f[19]!),
        created_at: text(f[20]!),
        updated_by: text(f[21]!),
        updated_at: text(f[22]!),
        source_entity: text(f[23]!),
        source_id: text(f[24]!),
        legacy_extra: text(f[25]!),
      }) as KpiDataRow,
  );
}

/**
 * The kpi_links row of a link the fast path vouched for, as mapGoalKpiLink gives it: its COPY
 * fields read back (the property test holds the two to the same values). For a reader of row
 * values (validation).
 */
export function linkRowOf(record: FlatLinkRecord): KpiLinkRow {
  const f = record.fields.split('\t');
  if (f.length !== KPI_LINK_COLUMNS.length) throw new TypeError(`${f.length} link fields for ${KPI_LINK_COLUMNS.length} columns`);
  return {
    id: text(f[0]!),
    tenant_id: text(f[1]!),
    kpi_id: text(f[2]!),
    person_id: text(f[3]!),
    goal_id: text(f[4]!),
    strategy_id: text(f[5]!),
    threshold_pct: text(f[6]!),
    link_type: text(f[7]!),
    weight: text(f[8]!),
    display_order: integer(f[9]!),
    is_primary: flag(f[10]!),
    created_by: text(f[11]!),
    created_at: text(f[12]!),
    updated_by: text(f[13]!),
    updated_at: text(f[14]!),
    source_entity: text(f[15]!),
    source_id: text(f[16]!),
    legacy_extra: text(f[17]!),
  } as KpiLinkRow;
}
