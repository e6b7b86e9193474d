import type { MigratedEntity } from '../transform/entities.js';

/** The source record that owns a row id in the target table now; no provenance: the application wrote the row. */
export interface RowHolder {
  sourceEntity: string | null;
  sourceId: string | null;
  lastRunId: string | null;
}

/** A record of the batch and the row ids (canonical) its rows would take. */
export interface ClaimingRecord {
  sourceEntity: MigratedEntity;
  sourceId: string;
  rowIds: readonly string[];
  /** Orders two copies of the same Id by content, so the outcome never depends on read order. */
  contentKey(): string;
}

export interface IdConflictLoss {
  /** Index of the losing record in the input. */
  record: number;
  rowId: string;
  message: string;
}

// Contract §3: the entity earlier in KpiMilestone, KpiActual, KpiReading keeps the row.
const ENTITY_PRECEDENCE: Record<MigratedEntity, number> = { GoalKpiLink: 0, KpiMilestone: 0, KpiActual: 1, KpiReading: 2 };

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePrecedence(a: ClaimingRecord, b: ClaimingRecord): number {
  return (
    ENTITY_PRECEDENCE[a.sourceEntity] - ENTITY_PRECEDENCE[b.sourceEntity] ||
    compareText(a.sourceId, b.sourceId) ||
    compareText(a.contentKey(), b.contentKey())
  );
}

const keyOf = (entity: string, sourceId: string): string => `${entity}\u0000${sourceId}`;

/**
 * Two different source records never share a target row. A row already in the target keeps its
 * holder (so re-runs are stable, whatever the read order); among the records of one batch the
 * one of precedence (earlier entity, then lower Id in code-unit order) is served first, and every
 * record that would take a row someone else holds loses whole: none of its rows load.
 */
export function resolveIdConflicts(
  records: readonly ClaimingRecord[],
  holders: ReadonlyMap<string, RowHolder>,
): { winners: number[]; losers: IdConflictLoss[] } {
  const order = records.map((_, index) => index).sort((a, b) => comparePrecedence(records[a]!, records[b]!));
  const rowClaims = new Map<string, number>();
  const recordKeys = new Set<string>();
  const winners: number[] = [];
  const losers: IdConflictLoss[] = [];
  for (const index of order) {
    const record = records[index]!;
    const rows = `none of this record's ${record.rowIds.length} row(s) were loaded`;
    const key = keyOf(record.sourceEntity, record.sourceId);
    if (recordKeys.has(key)) {
      const rowId = record.rowIds[0] ?? '';
      losers.push({ record: index, rowId, message: `${record.sourceEntity} ${record.sourceId} was read twice in this batch: one copy was loaded, ${rows}` });
      continue;
    }
    const loss = firstConflict(record, index, records, holders, rowClaims);
    if (loss !== undefined) {
      losers.push({ ...loss, message: `${loss.message}; ${rows}` });
      continue;
    }
    winners.push(index);
    recordKeys.add(key);
    for (const rowId of record.rowIds) rowClaims.set(rowId, index);
  }
  winners.sort((a, b) => a - b);
  losers.sort((a, b) => a.record - b.record);
  return { winners, losers };
}

function firstConflict(
  record: ClaimingRecord,
  index: number,
  records: readonly ClaimingRecord[],
  holders: ReadonlyMap<string, RowHolder>,
  rowClaims: ReadonlyMap<string, number>,
): IdConflictLoss | undefined {
  for (const rowId of record.rowIds) {
    const holder = holders.get(rowId);
    if (holder !== undefined && holder.sourceEntity === null) {
      return {
        record: index,
        rowId,
        message: `row ${rowId} was written by the application (it has no provenance): the tool never takes over or changes such a row`,
      };
    }
    if (holder !== undefined && (holder.sourceEntity !== record.sourceEntity || holder.sourceId !== record.sourceId)) {
      return {
        record: index,
        rowId,
        message: `row ${rowId} already belongs to ${holder.sourceEntity} ${holder.sourceId} (last written by run ${holder.lastRunId})`,
      };
    }
    const rival = rowClaims.get(rowId);
    if (rival !== undefined) {
      const winner = records[rival]!;
      return {
        record: index,
        rowId,
        message:
          `row ${rowId} is also produced by ${winner.sourceEntity} ${winner.sourceId} in the same batch, which takes ` +
          'precedence (entity order KpiMilestone, KpiActual, KpiReading, then the lower Id)',
      };
    }
  }
  return undefined;
}

const HEX32 = /^[0-9a-f]{32}$/;

/**
 * A uuid as PostgreSQL stores it (lowercase, hyphenated), from any form its input accepts
 * (braces, upper case, hyphens anywhere): two spellings of one uuid are one row id.
 */
export function canonicalUuid(text: string): string | undefined {
  let hex = text.toLowerCase();
  if (hex.startsWith('{') && hex.endsWith('}')) hex = hex.slice(1, -1);
  hex = hex.replaceAll('-', '');
  if (!HEX32.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
