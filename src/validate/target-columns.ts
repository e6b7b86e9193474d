import { canonicalUuid } from '../load/id-conflicts.js';
import { quoteIdent } from '../db/identifiers.js';
import { toPlainDecimal } from '../model/decimal.js';
import { KPI_DATA_COLUMNS, KPI_LINK_COLUMNS, type KpiDataRow, type KpiLinkRow } from '../model/rows.js';
import { isCanonicalUuid } from '../model/uuid-text.js';
import { jsonbOutputText } from './jsonb-output.js';

export type ColumnType = 'uuid' | 'text' | 'numeric' | 'integer' | 'smallint' | 'boolean' | 'timestamptz' | 'jsonb' | 'bigint';

export interface TargetColumn {
  name: string;
  type: ColumnType;
  notNull: boolean;
}

export type TargetTableName = 'kpi_links' | 'kpi_data';

/** What information_schema.columns.data_type says for each type. */
export const INFORMATION_SCHEMA_TYPE: Record<ColumnType, string> = {
  uuid: 'uuid',
  text: 'text',
  numeric: 'numeric',
  integer: 'integer',
  smallint: 'smallint',
  boolean: 'boolean',
  timestamptz: 'timestamp with time zone',
  jsonb: 'jsonb',
  bigint: 'bigint',
};

const column = (name: string, type: ColumnType, notNull = false): TargetColumn => ({ name, type, notNull });

/** The columns migrations 002 and 007 promise (007: provenance and run columns nullable, for the application), contract columns first in the writer's order (rows.ts). */
export const TARGET_COLUMNS: Record<TargetTableName, readonly TargetColumn[]> = {
  kpi_links: [
    column('id', 'uuid', true),
    column('tenant_id', 'uuid', true),
    column('kpi_id', 'uuid', true),
    column('person_id', 'uuid', true),
    column('goal_id', 'uuid'),
    column('strategy_id', 'uuid'),
    column('threshold_pct', 'numeric'),
    column('link_type', 'text', true),
    column('weight', 'numeric'),
    column('display_order', 'integer'),
    column('is_primary', 'boolean', true),
    column('created_by', 'uuid', true),
    column('created_at', 'timestamptz', true),
    column('updated_by', 'uuid'),
    column('updated_at', 'timestamptz'),
    column('source_entity', 'text'),
    column('source_id', 'text'),
    column('legacy_extra', 'jsonb', true),
    column('first_run_id', 'bigint'),
    column('last_run_id', 'bigint'),
  ],
  kpi_data: [
    column('id', 'uuid', true),
    column('kpi_link_id', 'uuid', true),
    column('data_category', 'text', true),
    column('target_subtype', 'text'),
    column('actual_subtype', 'text'),
    column('post_value', 'numeric', true),
    column('post_date', 'timestamptz', true),
    column('measured_period_start_date', 'timestamptz'),
    column('label', 'text'),
    column('confidence_level', 'smallint'),
    column('rationale', 'text'),
    column('original_value', 'numeric'),
    column('is_manual_override', 'boolean'),
    column('override_comment', 'text'),
    column('data_source', 'text'),
    column('source_reference_id', 'text'),
    column('triggers_replan', 'boolean'),
    column('replan_threshold_exceeded', 'boolean'),
    column('auto_adjustment_applied', 'text'),
    column('recorded_by', 'text'),
    column('recorded_at', 'timestamptz'),
    column('created_by', 'text'),
    column('created_at', 'timestamptz'),
    column('updated_by', 'text'),
    column('updated_at', 'timestamptz'),
    column('source_entity', 'text'),
    column('source_id', 'text'),
    column('legacy_extra', 'jsonb', true),
    column('first_run_id', 'bigint'),
    column('last_run_id', 'bigint'),
  ],
};

/** The columns a transformed row determines (the contract's), in the writer's order. */
export const CONTRACT_COLUMNS: Record<TargetTableName, readonly string[]> = {
  kpi_links: KPI_LINK_COLUMNS,
  kpi_data: KPI_DATA_COLUMNS,
};

/**
 * The columns that say which record a row comes from and where it hangs: the ones the default
 * validation reconciles for every row (`--full` compares every contract column).
 */
export const KEY_COLUMNS: Record<TargetTableName, readonly string[]> = {
  kpi_links: ['id', 'tenant_id', 'kpi_id', 'is_primary', 'source_entity', 'source_id'],
  kpi_data: ['id', 'kpi_link_id', 'source_entity', 'source_id'],
};

export function columnType(table: TargetTableName, name: string): ColumnType {
  const found = TARGET_COLUMNS[table].find((c) => c.name === name);
  if (found === undefined) throw new TypeError(`${table} has no column ${name}`);
  return found.type;
}

/**
 * A column as canonical text in SQL: what `canonicalValue` gives for the expected value. Timestamps
 * in UTC with microseconds whatever the session's TimeZone; the rest as PostgreSQL prints them.
 */
export function canonicalSql(table: TargetTableName, name: string, alias = 't'): string {
  const ref = `${alias}.${quoteIdent(name)}`;
  return columnType(table, name) === 'timestamptz'
    ? `to_char(${ref} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
    : `${ref}::text`;
}

/** An expected row's value as canonical text (see canonicalSql); null is SQL NULL. */
export function canonicalValue(type: ColumnType, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'uuid': {
      const text = String(value);
      return isCanonicalUuid(text) ? text : (canonicalUuid(text) ?? text);
    }
    case 'numeric':
      return toPlainDecimal(String(value)) ?? String(value);
    case 'boolean':
      return value === true ? 'true' : value === false ? 'false' : String(value);
    case 'jsonb':
      return jsonbText(String(value));
    default:
      return String(value);
  }
}

// legacy_extra is `{}` for most rows, and the same text for every row a record fans out to.
let lastJson = '{}';
let lastJsonb = '{}';
function jsonbText(json: string): string {
  if (json !== lastJson) {
    lastJsonb = jsonbOutputText(json) ?? json;
    lastJson = json;
  }
  return lastJsonb;
}

export type TargetRow = KpiLinkRow | KpiDataRow;

/** Turns expected rows into the listed columns' canonical text; built once per table and column list. */
export function rowCanonicaliser(table: TargetTableName, columns: readonly string[]): (row: TargetRow) => (string | null)[] {
  const types = columns.map((name) => columnType(table, name));
  return (row) => {
    const values = row as unknown as Record<string, unknown>;
    return columns.map((name, i) => canonicalValue(types[i]!, values[name]));
  };
}
