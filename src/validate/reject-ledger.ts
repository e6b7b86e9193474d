import { targetFailure } from '../db/database-error.js';
import type { SqlSession } from '../db/sql-client.js';
import { MIGRATED_ENTITIES, type MigratedEntity } from '../model/entities.js';
import { REJECT_REASONS, type RejectReason } from '../model/reject.js';
import type { Difference } from './report.js';

/** Rejects the load stage decides (the transform maps such a record; the database refuses it). */
const LOAD_REASONS: ReadonlySet<RejectReason> = new Set(['id_conflict', 'db_error']);

const NO_ID = '\u0000no id';
const keyOf = (entity: string, sourceId: string | null): string => `${entity}\u0000${sourceId ?? NO_ID}`;

/**
 * What a source record should have left in the target, once the run's rejects are taken into
 * account: rows (`migrated`), a reject the mapping decides (`rejected`), a reject the database
 * decided (`refused`), or nothing at all (`skipped` by the run's tenant filter).
 */
export type Accounted = 'migrated' | 'rejected' | 'refused';

/**
 * The rejects a run recorded for the migrated entities, by record. Memory: one entry per rejected
 * record (entity, source id and reasons: about 150 bytes), nothing for migrated ones.
 */
export class RejectLedger {
  private constructor(
    readonly runId: string | undefined,
    private readonly reasons: ReadonlyMap<string, readonly RejectReason[]>,
    readonly countsByEntity: ReadonlyMap<MigratedEntity, Partial<Record<RejectReason, number>>>,
  ) {}

  /** The run's rejects of the migrated entities; none when there is no run to account for. */
  static async load(sql: SqlSession, runId: string | undefined): Promise<RejectLedger> {
    const reasons = new Map<string, RejectReason[]>();
    const counts = new Map<MigratedEntity, Partial<Record<RejectReason, number>>>();
    if (runId !== undefined) {
      let rows: { source_entity: MigratedEntity; source_id: string | null; reason: RejectReason; n: string }[];
      try {
        ({ rows } = await sql.query(
          `select source_entity, source_id, reason, count(*)::text as n from kpi_migrate.rejects
           where run_id = $1::bigint and source_entity = any($2::text[])
           group by 1, 2, 3 order by 1, 2, 3`,
          [runId, `{${MIGRATED_ENTITIES.join(',')}}`],
        ));
      } catch (error) {
        throw targetFailure(error, `reading the rejects of run ${runId}`);
      }
      for (const row of rows) {
        const n = Number(row.n);
        const key = keyOf(row.source_entity, row.source_id);
        const list = reasons.get(key) ?? [];
        for (let i = 0; i < n; i++) list.push(row.reason);
        reasons.set(key, list);
        const byReason = counts.get(row.source_entity) ?? {};
        byReason[row.reason] = (byReason[row.reason] ?? 0) + n;
        counts.set(row.source_entity, byReason);
      }
    }
    // In the contract's reason order, as the run's own counts list them.
    for (const [entity, byReason] of counts) {
      counts.set(entity, Object.fromEntries(REJECT_REASONS.filter((reason) => byReason[reason]).map((reason) => [reason, byReason[reason]])));
    }
    return new RejectLedger(runId, reasons, counts);
  }

  rejectedCount(entity: MigratedEntity): number {
    return Object.values(this.countsByEntity.get(entity) ?? {}).reduce((sum, n) => sum + n, 0);
  }

  /** Source ids the database refused (id_conflict, db_error) for an entity: they have no rows. */
  refusedSourceIds(entity: MigratedEntity): string[] {
    const prefix = `${entity}\u0000`;
    const ids: string[] = [];
    for (const [key, reasons] of this.reasons) {
      if (key.startsWith(prefix) && !key.endsWith(NO_ID) && reasons.some((reason) => LOAD_REASONS.has(reason))) {
        ids.push(key.slice(prefix.length));
      }
    }
    return ids;
  }

  /** The reasons recorded for a record, without taking them (for samples). */
  reasonsOf(entity: MigratedEntity, sourceId: string | null): readonly RejectReason[] {
    return this.reasons.get(keyOf(entity, sourceId)) ?? [];
  }

  /** The rejects of these entities' records, as LedgerPass takes them (for a pass in another thread). */
  recordsOf(entities: readonly MigratedEntity[]): [string, RejectReason[]][] {
    const prefixes = entities.map((entity) => `${entity}\u0000`);
    return [...this.reasons].filter(([key]) => prefixes.some((prefix) => key.startsWith(prefix))).map(([key, list]) => [key, [...list]]);
  }

  /** A fresh pass over the source: each record takes the reject that accounts for it. */
  startPass(): LedgerPass {
    return new LedgerPass(this.runId, this.reasons);
  }
}

export interface AccountingOutcome {
  accounted: Accounted;
  /** Set when the record and the run's rejects disagree. */
  difference?: Difference;
}

const MIGRATED: AccountingOutcome = Object.freeze({ accounted: 'migrated' });

export class LedgerPass {
  /** The rejects not yet taken, by entity and source id (NO_ID for none): a record's lookup builds no key. */
  private readonly remaining = new Map<string, Map<string, RejectReason[]>>();

  constructor(
    private readonly runId: string | undefined,
    /** The rejects by keyOf(entity, source id), as RejectLedger keeps them; the pass takes them from its own copy. */
    rejects: ReadonlyMap<string, readonly RejectReason[]>,
  ) {
    for (const [key, reasons] of rejects) {
      const at = key.indexOf('\u0000');
      const entity = key.slice(0, at);
      let ofEntity = this.remaining.get(entity);
      if (ofEntity === undefined) this.remaining.set(entity, (ofEntity = new Map()));
      ofEntity.set(key.slice(at + 1), [...reasons]);
    }
  }

  /**
   * Accounts for one source record. `mapping` is what the transform makes of it now: a reject
   * with its reason and message, or the number of rows it yields.
   */
  take(
    entity: MigratedEntity,
    sourceId: string | null,
    mapping: { reason: RejectReason; message: string } | { rows: number },
  ): AccountingOutcome {
    const ofEntity = this.remaining.get(entity);
    const key = sourceId ?? NO_ID;
    const reasons = ofEntity?.get(key);
    // Nearly every record: migrated, and the run rejected it for nothing.
    if (reasons === undefined && !('reason' in mapping)) return MIGRATED;
    const takeReason = (wanted: (reason: RejectReason) => boolean): RejectReason | undefined => {
      if (reasons === undefined) return undefined;
      const at = reasons.findIndex(wanted);
      if (at === -1) return undefined;
      const [reason] = reasons.splice(at, 1);
      if (reasons.length === 0) ofEntity!.delete(key);
      return reason;
    };
    const named = `${entity} ${sourceId ?? '(no Id)'}`;
    const run = this.runId === undefined ? 'no run (none completed)' : `run ${this.runId}`;
    if ('reason' in mapping) {
      if (takeReason((reason) => reason === mapping.reason) !== undefined) return { accounted: 'rejected' };
      const other = takeReason(() => true);
      if (other !== undefined) {
        return {
          accounted: 'rejected',
          difference: {
            kind: 'reason_differs', entity, sourceId, expected: mapping.reason, found: other,
            message: `${named}: ${run} rejected it as ${other}, but its mapping says ${mapping.reason} (${mapping.message})`,
          },
        };
      }
      return {
        accounted: 'rejected',
        difference: {
          kind: 'missing_reject', entity, sourceId, expected: mapping.reason, found: null,
          message: `${named} is neither migrated nor among the rejects of ${run}: it should be a ${mapping.reason} reject (${mapping.message})`,
        },
      };
    }
    if (takeReason((reason) => LOAD_REASONS.has(reason)) !== undefined) return { accounted: 'refused' };
    const other = takeReason(() => true);
    if (other !== undefined) {
      return {
        accounted: 'rejected',
        difference: {
          kind: 'reason_differs', entity, sourceId, expected: 'migrated', found: other,
          message: `${named}: ${run} rejected it as ${other}, but it maps to ${mapping.rows} row(s) now`,
        },
      };
    }
    return { accounted: 'migrated' };
  }

  /** Rejects of the run that no source record took: records the source no longer holds, or twice-counted ones. */
  leftovers(entity: MigratedEntity): Difference[] {
    const differences: Difference[] = [];
    for (const [key, reasons] of this.remaining.get(entity) ?? []) {
      const sourceId = key === NO_ID ? null : key;
      for (const reason of reasons) {
        differences.push({
          kind: 'unexplained_reject', entity, sourceId, expected: null, found: reason,
          message: `run ${this.runId} rejected ${entity} ${sourceId ?? '(no Id)'} as ${reason}, but no record of the source accounts for that reject`,
        });
      }
    }
    return differences;
  }
}
