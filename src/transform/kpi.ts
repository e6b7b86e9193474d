import { coerceGuid, coerceText } from './coerce.js';
import { attribute, legacyRecord, optionalAttribute, type TypedItem } from './legacy-record.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { Reject } from '../model/reject.js';

/** `purposepath-kpis` (contract §1): read only to find each KPI's owner. */
export const kpiSchema = legacyRecord('Kpi', {
  Id: attribute(coerceGuid),
  TenantId: attribute(coerceGuid),
  Name: attribute(coerceText),
  OwnerId: optionalAttribute(coerceGuid),
});

export interface Kpi {
  id: string;
  tenantId: string;
  name: string;
  /** The owning user's GUID, null when the KPI has no owner. */
  ownerId: string | null;
}

export function parseKpi(item: LegacyItem): { ok: true; value: Kpi } | { ok: false; reject: Reject } {
  const parsed = kpiSchema.parse(item);
  if (!parsed.ok) return { ok: false, reject: parsed.reject };
  const { Id, TenantId, Name, OwnerId } = parsed.record;
  return { ok: true, value: { id: Id, tenantId: TenantId, name: Name, ownerId: OwnerId } };
}

/** The fast path of parseKpi (see LegacyRecordSchema.parseTyped): undefined sends the item through parseKpi. */
export function typedKpi(typed: TypedItem): Kpi | undefined {
  const parsed = kpiSchema.parseTyped(typed);
  if (parsed === undefined) return undefined;
  const { Id, TenantId, Name, OwnerId } = parsed.record;
  return { id: Id, tenantId: TenantId, name: Name, ownerId: OwnerId };
}
