import type { LegacyEntity } from './entities.js';
import type { LegacyItem } from './legacy-value.js';

/** Why a record did not make it (contract §3). Stable codes: reports and queries depend on them. */
export const REJECT_REASONS = [
  'missing_field',
  'invalid_value',
  'invalid_id',
  'unknown_enum',
  'no_kpi_link',
  'id_conflict',
  'db_error',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface Reject {
  sourceEntity: LegacyEntity;
  /** The legacy `Id` exactly as read (may be absent or malformed: that can be the reason). */
  sourceId: string | null;
  reason: RejectReason;
  /** Names the attribute and what was wrong with it. */
  message: string;
  /** The attribute concerned, when there is one. */
  attribute?: string;
  item: LegacyItem;
}

/** A per-record outcome: never an exception. */
export type MappingResult<Row> = { ok: true; rows: Row[] } | { ok: false; reject: Reject };
