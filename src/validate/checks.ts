import { quoteIdent } from '../db/identifiers.js';
import type { RunCounts } from '../load/ledger.js';
import type { SqlSession } from '../db/sql-client.js';
import { MIGRATED_ENTITIES, type MigratedEntity } from '../model/entities.js';
import type { RejectLedger } from './reject-ledger.js';
import { check, DifferenceList, type CheckResult } from './report.js';
import { scopeCondition, scopeParams, targetRows, type TargetScope } from './row-digest.js';
import type { RowReconciliation } from './row-reconciliation.js';
import type { TargetTableName } from './target-columns.js';

/** The checks built from counts: the accounting identity, fan-out, rows, orphans and references. */

export const tableOf = (entity: MigratedEntity): TargetTableName => (entity === 'GoalKpiLink' ? 'kpi_links' : 'kpi_data');

/** What the pass over the source saw of one migrated entity. */
export interface EntityTally {
  streamed: number;
  skipped: number;
  migrated: number;
  rejected: number;
  refused: number;
  expectedRows: number;
  differences: DifferenceList;
  seconds: number;
}

/** One entity in the target: its rows, and the distinct source records they come from. */
export interface TargetCounts {
  rows: number;
  records: number;
}

export async function countTarget(
  sql: SqlSession,
  scope: TargetScope,
  tables: readonly TargetTableName[] = ['kpi_links', 'kpi_data'],
): Promise<Partial<Record<MigratedEntity, TargetCounts>>> {
  const counts: Partial<Record<MigratedEntity, TargetCounts>> = {};
  for (const entity of MIGRATED_ENTITIES) if (tables.includes(tableOf(entity))) counts[entity] = { rows: 0, records: 0 };
  for (const table of tables) {
    const { rows } = await sql.query<{ source_entity: string; n: string; records: string }>(
      // Records counted as groups (count(distinct) sorts every row's source id): 30% less of the database's CPU.
      `select source_entity, sum(n)::text as n, count(source_id)::text as records
       from (
         select t.source_entity, t.source_id, count(*) as n
         from ${targetRows(scope, table)} t where ${scopeCondition(table, scope, 1)} group by 1, 2
       ) per_record
       group by 1`,
      scopeParams(scope, table),
    );
    for (const row of rows) {
      if (!(MIGRATED_ENTITIES as readonly string[]).includes(row.source_entity) || tableOf(row.source_entity as MigratedEntity) !== table) continue;
      counts[row.source_entity as MigratedEntity] = { rows: Number(row.n), records: Number(row.records) };
    }
  }
  return counts;
}

export function accountingCheck(
  entity: MigratedEntity,
  sourceCount: number,
  tally: EntityTally,
  target: TargetCounts,
  ledger: RejectLedger,
  runName: string,
  ledgerCounts: RunCounts | undefined,
): CheckResult {
  const rejected = ledger.rejectedCount(entity);
  const balanced = sourceCount === target.records + rejected + tally.skipped;
  const evidence = {
    source: sourceCount,
    streamed: tally.streamed,
    migratedInTarget: target.records,
    rejected,
    rejectsByReason: ledger.countsByEntity.get(entity) ?? {},
    skipped: tally.skipped,
    expectedMigrated: tally.migrated,
    rejectsSource: runName,
    runLedger: ledgerCounts?.entities[entity] === undefined ? null : {
      read: ledgerCounts.entities[entity]!.read, migrated: ledgerCounts.entities[entity]!.migrated,
      rejected: ledgerCounts.entities[entity]!.rejected, skipped: ledgerCounts.entities[entity]!.skipped,
    },
  };
  const identity = `source ${sourceCount} ${balanced ? '=' : '≠'} migrated ${target.records} + rejected ${rejected} + skipped ${tally.skipped}`;
  const problems: string[] = [];
  if (!balanced) problems.push(identity);
  if (tally.streamed !== sourceCount) problems.push(`a full read gave ${tally.streamed} items but the recount says ${sourceCount} (the source changed, or a reader is wrong)`);
  if (tally.migrated !== target.records) problems.push(`${tally.migrated} records should have rows, ${target.records} have`);
  if (tally.differences.found > 0) problems.push(`${tally.differences.found} record(s) disagree with the rejects of ${runName}`);
  return problems.length === 0
    ? check('accounting', 'passed', identity, evidence, tally.differences, entity)
    : check('accounting', 'failed', problems.join('; '), evidence, tally.differences, entity);
}

export function fanOutCheck(entity: MigratedEntity, tally: EntityTally, target: TargetCounts): CheckResult {
  const evidence = { expectedRows: tally.expectedRows, targetRows: target.rows, migratedRecords: tally.migrated };
  return tally.expectedRows === target.rows
    ? check('fan-out', 'passed', `kpi_data holds ${target.rows} rows = Σ links of the ${tally.migrated} migrated records`, evidence, undefined, entity)
    : check('fan-out', 'failed', `kpi_data holds ${target.rows} rows, but the ${tally.migrated} migrated records fan out to ${tally.expectedRows} (see the rows check for which)`, evidence, undefined, entity);
}

export function rowsCheck(reconciliation: RowReconciliation, differences: DifferenceList, full: boolean): CheckResult {
  const evidence = {
    compared: full ? 'every contract column' : 'keys',
    columns: reconciliation.columns,
    expectedRows: reconciliation.expected.rows,
    targetRows: reconciliation.targetRows,
    buckets: reconciliation.expected.buckets.size,
    differingBuckets: reconciliation.differingBucketCount,
    drilledBuckets: reconciliation.drilledBucketCount,
  };
  const name = full ? 'full-compare' : 'rows';
  if (reconciliation.differingBucketCount === 0) {
    return check(name, 'passed', `${reconciliation.expected.rows} expected rows, ${full ? 'every column' : 'ids, links and provenance'} equal in the target (checksums of ${evidence.buckets} buckets)`, evidence, differences, reconciliation.table);
  }
  const drilled = reconciliation.drilledBucketCount < reconciliation.differingBucketCount
    ? ` (read row by row: ${reconciliation.drilledBucketCount} of ${reconciliation.differingBucketCount} differing buckets)`
    : '';
  return check(name, 'failed', `${differences.found} difference(s) in ${reconciliation.differingBucketCount} bucket(s) of ids${drilled}`, evidence, differences, reconciliation.table);
}

export async function orphansCheck(sql: SqlSession, scope: TargetScope, limit: number): Promise<CheckResult> {
  const data = targetRows(scope, 'kpi_data');
  const links = `${quoteIdent(scope.schema)}.kpi_links`;
  const orphan = `not exists (select 1 from ${links} l where l.id = d.kpi_link_id)`;
  const { rows: counted } = await sql.query<{ n: string }>(`select count(*)::text as n from ${data} d where ${orphan}`);
  const found = Number(counted[0]?.n ?? 0);
  const list = new DifferenceList(limit);
  if (found > 0) {
    const { rows } = await sql.query<{ id: string; kpi_link_id: string; source_entity: string; source_id: string }>(
      `select d.id::text as id, d.kpi_link_id::text as kpi_link_id, d.source_entity, d.source_id from ${data} d where ${orphan} order by d.id limit $1`,
      [limit],
    );
    for (const row of rows) {
      list.add({ kind: 'orphan_row', table: 'kpi_data', id: row.id, entity: row.source_entity, sourceId: row.source_id, message: `kpi_data row ${row.id} (${row.source_entity} ${row.source_id}) points to link ${row.kpi_link_id}, which kpi_links does not hold` });
    }
    list.found = found;
  }
  return found === 0
    ? check('orphans', 'passed', 'every kpi_data row has its link', { orphanRows: 0 }, list)
    : check('orphans', 'failed', `${found} kpi_data row(s) without a link`, { orphanRows: found }, list);
}

export function referenceCheck(name: string, list: DifferenceList, warn: (n: number) => string, ok: string, extra: Record<string, unknown> = {}): CheckResult {
  return list.found === 0
    ? check(name, 'passed', ok, { count: 0, ...extra })
    : check(name, 'warning', warn(list.found), { count: list.found, ...extra }, list);
}
