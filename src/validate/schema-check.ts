import { loadMigrations } from '../load/migrate.js';
import { quoteIdent } from '../db/identifiers.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { check, DifferenceList, type CheckResult } from './report.js';
import { applicationRowColumns, applicationTableProblems, readTargetLayout, TOOL_OWNED_TARGET, type TargetLayout } from '../load/target-ownership.js';
import { INFORMATION_SCHEMA_TYPE, TARGET_COLUMNS, type TargetTableName } from './target-columns.js';

const LEDGER_TABLES = [
  'runs', 'checkpoints', 'run_counts', 'rejects', 'row_history', 'reports', 'claim_generations', 'run_rows', 'row_provenance', 'target_tables',
  // sync (migrations 010–012): the run's source image, its streams and positions, export origins, replaced rejects
  'source_image', 'change_streams', 'change_positions', 'export_origins', 'reject_history',
  // who writes the target tables (013)
  'target_writes',
  'schema_migrations',
] as const;
/** Without these, nothing else can be checked. */
const ESSENTIAL = ['kpi_links', 'kpi_data', 'kpi_migrate.runs', 'kpi_migrate.rejects'];

interface PromisedConstraint {
  table: TargetTableName;
  type: 'p' | 'f' | 'c';
  columns: string;
  references?: string;
}

const PROMISED_CONSTRAINTS: readonly PromisedConstraint[] = [
  { table: 'kpi_links', type: 'p', columns: 'id' },
  { table: 'kpi_data', type: 'p', columns: 'id' },
  { table: 'kpi_data', type: 'f', columns: 'kpi_link_id', references: 'kpi_links(id)' },
  { table: 'kpi_links', type: 'c', columns: 'link_type' },
  { table: 'kpi_data', type: 'c', columns: 'data_category' },
  { table: 'kpi_data', type: 'c', columns: 'target_subtype' },
  { table: 'kpi_data', type: 'c', columns: 'actual_subtype' },
  { table: 'kpi_data', type: 'c', columns: 'confidence_level' },
  { table: 'kpi_data', type: 'c', columns: 'data_source' },
];

/** Indexes promised by their leading columns (a name can change; what it serves cannot). */
const PROMISED_INDEXES: readonly { table: TargetTableName; leading: readonly string[]; serves: string; ofApplication?: true }[] = [
  // finalize creates this one on the application's table too.
  { table: 'kpi_data', leading: ['kpi_link_id', 'post_date'], serves: 'all data of a link ordered by date', ofApplication: true },
  { table: 'kpi_links', leading: ['tenant_id', 'kpi_id'], serves: 'the links of a KPI' },
  { table: 'kpi_data', leading: ['source_entity', 'source_id'], serves: 'rows of a source record (validation, resume)' },
  { table: 'kpi_links', leading: ['source_entity', 'source_id'], serves: 'rows of a source record (validation, resume)' },
];

export interface SchemaFindings {
  check: CheckResult;
  /** False when a table everything else reads is missing: the other checks cannot run. */
  usable: boolean;
  indexes: IndexInfo[];
  layout: TargetLayout;
}

interface IndexInfo {
  name: string;
  table: string;
  columns: string[];
  valid: boolean;
}

const CONSTRAINT_NAMES: Record<PromisedConstraint['type'], string> = { p: 'primary key', f: 'foreign key', c: 'check constraint' };

/** The tables, columns, constraints, indexes and migrations the tool's SQL migrations promise. */
export async function checkSchema(sql: SqlSession, schema: string, limit: number): Promise<SchemaFindings> {
  const list = new DifferenceList(limit);
  const problem = (message: string) => list.add({ kind: 'schema', message });

  const { rows: encodingRows } = await sql.query<{ encoding: string }>(`select current_setting('server_encoding') as encoding`);
  const encoding = encodingRows[0]?.encoding ?? '?';
  // Legacy text is any Unicode, and the row checksums hash UTF-8.
  if (encoding !== 'UTF8') problem(`the database encoding is ${encoding}, not UTF8: legacy text may not be stored as written`);

  const { rows: tableRows } = await sql.query<{ schema: string; name: string }>(
    `select table_schema as schema, table_name as name from information_schema.tables
     where (table_schema = $1 and table_name in ('kpi_links', 'kpi_data')) or table_schema = 'kpi_migrate'`,
    [schema],
  );
  const present = new Set(tableRows.map((row) => (row.schema === 'kpi_migrate' ? `kpi_migrate.${row.name}` : row.name)));
  const promisedTables = ['kpi_links', 'kpi_data', ...LEDGER_TABLES.map((name) => `kpi_migrate.${name}`)];
  for (const table of promisedTables) if (!present.has(table)) problem(`table ${table === 'kpi_links' || table === 'kpi_data' ? `${schema}.${table}` : table} is missing`);
  const usable = ESSENTIAL.every((table) => present.has(table));

  const { rows: columnRows } = await sql.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
    `select table_name, column_name, data_type, is_nullable from information_schema.columns
     where table_schema = $1 and table_name in ('kpi_links', 'kpi_data')`,
    [schema],
  );
  // The application's tables (contract §6) promise what the tool writes into them, not migration 002's shape.
  const layout = await readTargetLayout(sql, schema);
  const owned = (table: TargetTableName) => layout[table].owner === 'tool';
  let columnsChecked = 0;
  for (const problemFound of await applicationTableProblems(sql, schema, layout)) problem(problemFound);
  for (const table of ['kpi_links', 'kpi_data'] as const) {
    if (present.has(table) && !owned(table)) columnsChecked += applicationRowColumns(table, layout[table]).length;
    if (!present.has(table) || !owned(table)) continue;
    for (const promised of TARGET_COLUMNS[table]) {
      columnsChecked += 1;
      const found = columnRows.find((row) => row.table_name === table && row.column_name === promised.name);
      if (found === undefined) problem(`column ${table}.${promised.name} is missing`);
      else if (found.data_type !== INFORMATION_SCHEMA_TYPE[promised.type]) problem(`column ${table}.${promised.name} is ${found.data_type}, not ${INFORMATION_SCHEMA_TYPE[promised.type]}`);
      else if (promised.notNull && found.is_nullable !== 'NO') problem(`column ${table}.${promised.name} accepts NULL; the migration declares it not null`);
    }
  }

  const { rows: constraintRows } = await sql.query<{ table_name: string; type: string; validated: boolean; columns: string; ref: string | null; name: string }>(
    `select rel.relname as table_name, c.contype::text as type, c.convalidated as validated, c.conname as name,
       array_to_string(array(select a.attname from unnest(c.conkey) with ordinality k(n, o)
         join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.o), ',') as columns,
       case when c.contype = 'f' then frel.relname || '(' || array_to_string(array(select a.attname from unnest(c.confkey) with ordinality k(n, o)
         join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.o), ',') || ')' end as ref
     from pg_constraint c
     join pg_class rel on rel.oid = c.conrelid
     join pg_namespace ns on ns.oid = rel.relnamespace
     left join pg_class frel on frel.oid = c.confrelid
     where ns.nspname = $1 and rel.relname in ('kpi_links', 'kpi_data')`,
    [schema],
  );
  const constraints: string[] = [];
  for (const promised of PROMISED_CONSTRAINTS) {
    // The application's check constraints are its own business; its key and the foreign key (finalize's) are not.
    if (!present.has(promised.table) || (!owned(promised.table) && promised.type === 'c')) continue;
    const what = `${CONSTRAINT_NAMES[promised.type]} on ${promised.table}(${promised.columns})${promised.references ? ` → ${promised.references}` : ''}`;
    const found = constraintRows.find(
      (row) => row.table_name === promised.table && row.type === promised.type && row.columns === promised.columns && (promised.references === undefined || row.ref === promised.references),
    );
    if (found === undefined) problem(`${what} is missing`);
    else if (!found.validated) problem(`${what} (${found.name}) is NOT VALID: existing rows were never checked against it`);
    else constraints.push(`${what} (${found.name}${promised.type === 'f' ? ', validated' : ''})`);
  }

  const indexes = await listIndexes(sql, schema);
  const indexEvidence: string[] = [];
  for (const promised of PROMISED_INDEXES) {
    if (!present.has(promised.table) || (!owned(promised.table) && promised.ofApplication !== true)) continue;
    const found = indexes.find((index) => index.table === promised.table && promised.leading.every((column, i) => index.columns[i] === column));
    const what = `index on ${promised.table}(${promised.leading.join(', ')}) for ${promised.serves}`;
    if (found === undefined) problem(`${what} is missing`);
    else if (!found.valid) problem(`${what} (${found.name}) is not valid (a failed CREATE INDEX CONCURRENTLY?)`);
    else indexEvidence.push(`${found.name} on ${promised.table}(${found.columns.join(', ')})`);
  }

  const migrations = await checkMigrations(sql, schema, present.has('kpi_migrate.schema_migrations'), problem);

  const evidence = { encoding, tables: promisedTables.filter((table) => present.has(table)), columnsChecked, constraints, indexes: indexEvidence, migrations };
  const result = list.found === 0
    ? check('schema', 'passed', `${promisedTables.length} tables, ${columnsChecked} columns, ${constraints.length} constraints (foreign key validated), ${indexEvidence.length} indexes and ${migrations.length} migrations as promised`, evidence, list)
    : check('schema', 'failed', `${list.found} difference(s) from what the migrations promise`, evidence, list);
  return { check: result, usable, indexes, layout };
}

async function listIndexes(sql: SqlSession, schema: string): Promise<IndexInfo[]> {
  const { rows } = await sql.query<{ name: string; table_name: string; columns: string; valid: boolean }>(
    `select i.relname as name, t.relname as table_name, ix.indisvalid and ix.indisready as valid,
       array_to_string(array(select a.attname from unnest(ix.indkey::int2[]) with ordinality k(n, o)
         join pg_attribute a on a.attrelid = ix.indrelid and a.attnum = k.n order by k.o), ',') as columns
     from pg_index ix
     join pg_class i on i.oid = ix.indexrelid
     join pg_class t on t.oid = ix.indrelid
     join pg_namespace ns on ns.oid = t.relnamespace
     where ns.nspname = $1 and t.relname in ('kpi_links', 'kpi_data')`,
    [schema],
  );
  return rows.map((row) => ({ name: row.name, table: row.table_name, columns: row.columns === '' ? [] : row.columns.split(','), valid: row.valid }));
}

async function checkMigrations(sql: SqlSession, schema: string, tracked: boolean, problem: (message: string) => void): Promise<string[]> {
  const promised = await loadMigrations(schema);
  if (!tracked) {
    problem('kpi_migrate.schema_migrations is missing: no migration was applied by kpi-migrate');
    return [];
  }
  const { rows } = await sql.query<{ version: number; name: string; checksum: string; target_schema: string }>(
    'select version, name, checksum, target_schema from kpi_migrate.schema_migrations order by version',
  );
  const applied: string[] = [];
  for (const migration of promised) {
    const found = rows.find((row) => row.version === migration.version);
    if (found === undefined) problem(`migration ${migration.name} is not applied (kpi-migrate schema apply)`);
    else if (found.checksum !== migration.checksum) problem(`migration ${migration.name} was applied from a different file (checksum differs)`);
    else if (found.target_schema !== schema) problem(`migrations were applied for target schema ${found.target_schema}, not ${schema}`);
    else applied.push(migration.name);
  }
  return applied;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

interface PlanSummary {
  /** The top node and how each table is reached, e.g. `Index Scan using kpi_data_link_date_idx on kpi_data`. */
  shape: string[];
  indexUsed: string | undefined;
  sorts: boolean;
}

function summarise(plan: PlanNode, table: string, indexes: readonly IndexInfo[]): PlanSummary {
  const shape: string[] = [];
  let indexUsed: string | undefined;
  let sorts = false;
  const tableIndexes = new Set(indexes.filter((index) => index.table === table).map((index) => index.name));
  const visit = (node: PlanNode) => {
    const type = node['Node Type'];
    if (type === 'Sort' || type === 'Incremental Sort') sorts = true;
    const index = node['Index Name'];
    if (index !== undefined && tableIndexes.has(index)) indexUsed ??= index;
    shape.push(`${type}${index ? ` using ${index}` : ''}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}`);
    for (const child of node.Plans ?? []) visit(child);
  };
  visit(plan);
  return { shape, indexUsed, sorts };
}

async function explain(session: SqlSession, query: string): Promise<PlanNode> {
  const { rows } = await session.query<Record<string, unknown>>(`explain (format json) ${query}`);
  const raw = Object.values(rows[0] ?? {})[0];
  const parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
  return parsed[0]!.Plan;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const uuidLiteral = (value: string | undefined): string => `'${value !== undefined && UUID.test(value) ? value : ZERO_UUID}'::uuid`;

/**
 * The application's two reads must use an index. The planner is asked twice: as configured
 * (what production would do), and — only when it prefers another plan — with sequential scans
 * disabled, to prove that the promised index can serve the query. On a small table the planner
 * rightly prefers a sequential scan, so the check passes when the promised index exists, is valid,
 * and is used by one of the two plans; the evidence says which, with both plans' shapes.
 */
export async function checkIndexUse(
  sql: SqlClient,
  schema: string,
  indexes: readonly IndexInfo[],
  tableRows: Record<TargetTableName, number>,
  layout: TargetLayout = TOOL_OWNED_TARGET,
): Promise<CheckResult[]> {
  const qualified = (table: string) => `${quoteIdent(schema)}.${quoteIdent(table)}`;
  // The first link and KPI in key order, not whichever row a scan meets first: where a sequential
  // scan starts depends on the scans before it (synchronized scans), and the report would name a
  // different link from one validation of the same target to the next.
  const { rows: linkRows } = await sql.query<{ kpi_link_id: string }>(
    `select kpi_link_id::text as kpi_link_id from ${qualified('kpi_data')} where kpi_link_id is not null order by kpi_link_id limit 1`,
  );
  const { rows: kpiRows } = await sql.query<{ tenant_id: string; kpi_id: string }>(
    `select tenant_id::text as tenant_id, kpi_id::text as kpi_id from ${qualified('kpi_links')} where tenant_id is not null and kpi_id is not null order by tenant_id, kpi_id limit 1`,
  );
  const queries = [
    {
      subject: 'all data of a link ordered by date',
      table: 'kpi_data' as const,
      leading: 'kpi_link_id',
      text: `select * from ${qualified('kpi_data')} where kpi_link_id = ${uuidLiteral(linkRows[0]?.kpi_link_id)} order by post_date`,
    },
    {
      subject: 'the links of a KPI',
      table: 'kpi_links' as const,
      leading: 'tenant_id',
      text: `select * from ${qualified('kpi_links')} where tenant_id = ${uuidLiteral(kpiRows[0]?.tenant_id)} and kpi_id = ${uuidLiteral(kpiRows[0]?.kpi_id)}`,
    },
  ];
  const results: CheckResult[] = [];
  for (const query of queries) {
    const serving = indexes.filter((index) => index.table === query.table && index.valid && index.columns[0] === query.leading).map((index) => index.name);
    const realistic = summarise(await explain(sql, query.text), query.table, indexes);
    const evidence: Record<string, unknown> = { query: query.text, tableRows: tableRows[query.table], servingIndexes: serving, plan: realistic.shape };
    if (realistic.indexUsed !== undefined && serving.includes(realistic.indexUsed)) {
      results.push(check('index-use', 'passed', `the planner uses ${realistic.indexUsed}${realistic.sorts ? ' (and sorts)' : ''}`, { ...evidence, provedBy: 'plan as configured' }, undefined, query.subject));
      continue;
    }
    const forced = await sql.transaction(async (session) => {
      await session.query('set local enable_seqscan = off');
      return summarise(await explain(session, query.text), query.table, indexes);
    });
    evidence.planWithoutSeqScan = forced.shape;
    if (serving.length > 0 && forced.indexUsed !== undefined && serving.includes(forced.indexUsed)) {
      results.push(check(
        'index-use',
        'passed',
        `${forced.indexUsed} serves it: at ${tableRows[query.table]} rows the planner prefers ${realistic.shape[0] ?? 'another plan'}, and uses the index once sequential scans are off`,
        { ...evidence, provedBy: 'plan with enable_seqscan off (the configured plan prefers a sequential scan at this size)' },
        undefined,
        query.subject,
      ));
    } else if (layout[query.table].owner === 'application' && query.table === 'kpi_links') {
      // The tool creates no index in the application's tables but finalize's on kpi_data.
      results.push(check('index-use', 'warning', `no valid index on the application's ${query.table}(${query.leading}, …) serves it: a sequential scan reads the table`, { ...evidence, provedBy: 'none' }, undefined, query.subject));
    } else {
      results.push(check('index-use', 'failed', `no valid index on ${query.table}(${query.leading}, …) serves it`, { ...evidence, provedBy: 'none' }, undefined, query.subject));
    }
  }
  return results;
}
