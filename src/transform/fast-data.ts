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

export type SharedDataValue = string | number | boolean | null;

const BOOLEAN_SHARED_COLUMNS: ReadonlySet<string> = new Set(['is_manual_override', 'triggers_replan', 'replan_threshold_exceeded']);

/** How each of SHARED_DATA_COLUMNS is read back from its COPY field, in their order: as the full path types it. */
const SHARED_FIELD_READERS: readonly ((field: string) => SharedDataValue)[] = SHARED_DATA_COLUMNS.map((column) =>
  column === 'confidence_level' ? integer : BOOLEAN_SHARED_COLUMNS.has(column) ? flag : text,
);

/**
 * The values of some shared columns of a record the fast path vouched for (indexes into
 * SHARED_DATA_COLUMNS, ascending), read back from its COPY fields without splitting the others
 * off: a reader of a few columns (validation's keys) reads only those.
 */
export function sharedDataValues(record: TypedDataRecord, indexes: readonly number[]): SharedDataValue[] {
  const fields = record.sharedFields;
  const values: SharedDataValue[] = new Array<SharedDataValue>(indexes.length);
  let start = 0;
  let index = 0;
  for (let at = 0; at < indexes.length; at++) {
    const wanted = indexes[at]!;
    for (; index < wanted; index++) {
      start = fields.indexOf('\t', start) + 1;
      if (start === 0) throw new TypeError(`no shared field ${wanted}: ${index + 1} fields`);
    }
    const end = fields.indexOf('\t', start);
    values[at] = SHARED_FIELD_READERS[wanted]!(end === -1 ? fields.slice(start) : fields.slice(start, end));
  }
  return values;
}

/**
 * The rows of a record the fast path vouched for, as the full path's mapping gives them: its
 * shared COPY fields read back, each row with its id and link. For a reader of row values
 * (validation). Spelled out column by column: one object shape for every row.
 */
export function dataRowsOf(record: TypedDataRecord, rows: readonly { id: string; linkId: string }[]): KpiDataRow[] {
  const f = record.sharedFields.split('\t');
  if (f.length !== SHARED_DATA_COLUMNS.length) throw new TypeError(`${f.length} shared fields for ${SHARED_DATA_COLUMNS.length} columns`);
  const v = f.map((field, at) => SHARED_FIELD_READERS[at]!(field));
  // Typed as the full path types them; the property test holds the two to the same values.
  return rows.map(
    (row) =>
      ({
        id: row.id,
        kpi_link_id: row.linkId,
        data_category: v[0],
        target_subtype: v[1],
        actual_subtype: v[2],
        post_value: v[3],
        post_date: v[4],
        measured_period_start_date: v[5],
        label: v[6],
        confidence_level: v[7],
        rationale: v[8],
        original_value: v[9],
        is_manual_override: v[10],
        override_comment: v[11],
        data_source: v[12],
        source_reference_id: v[13],
        triggers_replan: v[14],
        replan_threshold_exceeded: v[15],
        auto_adjustment_applied: v[16],
        recorded_by: v[17],
        recorded_at: v[18],
        created_by: v[19],
        created_at: v[20],
        updated_by: v[21],
        updated_at: v[22],
        source_entity: v[23],
        source_id: v[24],
        legacy_extra: v[25],
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
