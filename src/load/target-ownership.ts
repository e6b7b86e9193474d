import { MigrateError } from '../errors.js';
import { quoteIdent } from '../db/identifiers.js';
import type { SqlSession } from '../db/sql-client.js';
import { KPI_DATA_COLUMNS, KPI_LINK_COLUMNS } from '../model/rows.js';

export type TargetTableName = 'kpi_links' | 'kpi_data';

/**
 * Where the tool keeps a target table's provenance (source_entity, source_id), run bookkeeping
 * (first_run_id, last_run_id) and legacy_extra: in the row when the tool created the table
 * (migration 002), beside it in kpi_migrate.row_provenance when the application did (contract §6).
 */
export interface TableLayout {
  owner: 'tool' | 'application';
  /** Whether legacy_extra is a column of the table (always for the tool's; the application's may have it). */
  legacyExtraInRow: boolean;
}

export type TargetLayout = Record<TargetTableName, TableLayout>;

export const TOOL_OWNED: TableLayout = { owner: 'tool', legacyExtraInRow: true };
export const TOOL_OWNED_TARGET: TargetLayout = { kpi_links: TOOL_OWNED, kpi_data: TOOL_OWNED };

/** The columns of a row the tool keeps beside an application's row rather than in it. */
export const PROVENANCE_COLUMNS = ['source_entity', 'source_id', 'first_run_id', 'last_run_id'] as const;

/**
 * The target's layout as recorded in kpi_migrate.target_tables when its tables were created or
 * found. A database without that record (not migrated yet, or by a version before it) is the tool's.
 */
export async function readTargetLayout(session: SqlSession, schema: string): Promise<TargetLayout> {
  const { rows: recorded } = await session.query<{ present: boolean }>(`select to_regclass('kpi_migrate.target_tables') is not null as present`);
  // Before the record exists (a database no run has prepared yet) every table is the tool's.
  if (recorded[0]?.present !== true) return { ...TOOL_OWNED_TARGET };
  return readRecordedLayout(session, schema);
}

/** readTargetLayout on a database the tool has migrated (kpi_migrate.target_tables exists): one query. */
export async function readRecordedLayout(session: SqlSession, schema: string): Promise<TargetLayout> {
  const { rows } = await session.query<{ table_name: TargetTableName; owner: TableLayout['owner']; legacy_extra: boolean }>(
    `select o.table_name, o.owner,
       exists (select 1 from pg_attribute a
               where a.attrelid = to_regclass(format('%I.%I', $1::text, o.table_name)) and a.attname = 'legacy_extra'
                 and a.attnum > 0 and not a.attisdropped) as legacy_extra
     from kpi_migrate.target_tables o`,
    [schema],
  );
  const layout: TargetLayout = { ...TOOL_OWNED_TARGET };
  for (const row of rows) layout[row.table_name] = row.owner === 'tool' ? TOOL_OWNED : { owner: 'application', legacyExtraInRow: row.legacy_extra };
  return layout;
}

/** The columns the tool writes into a table the application owns (the contract's, legacy_extra when the table has it). */
export function applicationRowColumns(table: TargetTableName, layout: TableLayout): readonly string[] {
  const contract: readonly string[] = table === 'kpi_links' ? KPI_LINK_COLUMNS : KPI_DATA_COLUMNS;
  return contract.filter(
    (column) => !(PROVENANCE_COLUMNS as readonly string[]).includes(column) && (column !== 'legacy_extra' || layout.legacyExtraInRow),
  );
}

interface FoundColumn {
  table_name: TargetTableName;
  column_name: string;
  data_type: string;
  typmod: number;
  not_null: boolean;
  has_default: boolean;
  generated: boolean;
}

/** For each type the tool writes, the column types that store its values exactly (numeric without a scale that would round). */
const STORES_EXACTLY: Record<string, readonly string[]> = {
  uuid: ['uuid'],
  text: ['text', 'character varying'],
  numeric: ['numeric'],
  integer: ['integer', 'bigint', 'numeric'],
  smallint: ['smallint', 'integer', 'bigint', 'numeric'],
  boolean: ['boolean'],
  timestamptz: ['timestamp with time zone'],
  jsonb: ['jsonb'],
};

/** Each contract column's type as the tool writes it (migration 002's). */
const WRITTEN_TYPE: Record<string, string> = {
  id: 'uuid', tenant_id: 'uuid', kpi_id: 'uuid', person_id: 'uuid', goal_id: 'uuid', strategy_id: 'uuid', kpi_link_id: 'uuid',
  threshold_pct: 'numeric', weight: 'numeric', post_value: 'numeric', original_value: 'numeric',
  display_order: 'integer', confidence_level: 'smallint',
  is_primary: 'boolean', is_manual_override: 'boolean', triggers_replan: 'boolean', replan_threshold_exceeded: 'boolean',
  created_at: 'timestamptz', updated_at: 'timestamptz', post_date: 'timestamptz', measured_period_start_date: 'timestamptz', recorded_at: 'timestamptz',
  legacy_extra: 'jsonb',
};
/** A contract column's SQL type as the tool writes it (migration 002's). */
export function contractColumnType(table: TargetTableName, column: string): string {
  // kpi_links' created_by/updated_by are uuids, kpi_data's are text (contract §2).
  return table === 'kpi_links' && (column === 'created_by' || column === 'updated_by') ? 'uuid' : (WRITTEN_TYPE[column] ?? 'text');
}

/**
 * What makes the application's tables unable to take the tool's rows as they are: a column the
 * tool writes missing or of a type that would not store its values exactly, a column the tool
 * does not write that refuses a row without it (not null, no default), or an id that is not
 * unique. Empty when they can. Each problem names its column.
 */
export async function applicationTableProblems(session: SqlSession, schema: string, layout: TargetLayout): Promise<string[]> {
  const { rows } = await session.query<FoundColumn>(
    `select c.relname as table_name, a.attname as column_name, format_type(a.atttypid, null) as data_type,
       a.atttypmod as typmod, a.attnotnull as not_null, a.atthasdef as has_default,
       (a.attgenerated <> '' or a.attidentity <> '') as generated
     from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relname in ('kpi_links', 'kpi_data') and a.attnum > 0 and not a.attisdropped`,
    [schema],
  );
  const { rows: unique } = await session.query<{ table_name: TargetTableName }>(
    `select c.relname as table_name from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
     where n.nspname = $1 and c.relname in ('kpi_links', 'kpi_data') and i.indisunique and i.indnkeyatts = 1
       and i.indpred is null and a.attname = 'id'`,
    [schema],
  );
  const problems: string[] = [];
  for (const table of ['kpi_links', 'kpi_data'] as const) {
    const tableLayout = layout[table];
    if (tableLayout.owner !== 'application') continue;
    const found = rows.filter((row) => row.table_name === table);
    const written = applicationRowColumns(table, tableLayout);
    for (const name of written) {
      const column = found.find((row) => row.column_name === name);
      const wanted = contractColumnType(table, name);
      const accepted = STORES_EXACTLY[wanted] ?? [wanted];
      if (column === undefined) problems.push(`column ${schema}.${table}.${name} is missing (the tool writes ${typeName(wanted)})`);
      else if (!accepted.includes(column.data_type)) problems.push(`column ${schema}.${table}.${name} is ${column.data_type}, which cannot hold the tool's ${typeName(wanted)} exactly`);
      else if (column.data_type === 'numeric' && column.typmod !== -1 && wanted === 'numeric') {
        problems.push(`column ${schema}.${table}.${name} is numeric with a precision/scale, which would round the tool's exact decimals`);
      } else if (column.generated) problems.push(`column ${schema}.${table}.${name} is generated or an identity: the tool writes it`);
    }
    for (const column of found) {
      if (written.includes(column.column_name) || !column.not_null || column.has_default || column.generated) continue;
      problems.push(`column ${schema}.${table}.${column.column_name} is not null without a default, and the tool does not write it`);
    }
    if (found.some((row) => row.column_name === 'id') && !unique.some((row) => row.table_name === table)) {
      problems.push(`${schema}.${table}.id is neither the primary key nor unique: rows are upserted by id`);
    }
  }
  return problems;
}

function typeName(type: string): string {
  return type === 'timestamptz' ? 'timestamptz (timestamp with time zone)' : type;
}

/** Refuses (TARGET_INCOMPATIBLE, exit 2) when the application's tables cannot take the tool's rows. */
export async function assertApplicationTablesFit(session: SqlSession, schema: string, layout: TargetLayout): Promise<void> {
  const problems = await applicationTableProblems(session, schema, layout);
  if (problems.length === 0) return;
  throw new MigrateError(
    'TARGET_INCOMPATIBLE',
    `the application's tables in schema ${quoteIdent(schema)} cannot take the tool's rows; nothing was written:\n  ${problems.join('\n  ')}`,
    { details: { problems } },
  );
}
