import {
  coerceBoolean,
  coerceDecimal,
  coerceDisplayOrder,
  coerceGuid,
  coerceLinkType,
  coerceTimestamp,
} from './coerce.js';
import { attribute, legacyRecord, optionalAttribute, type TypedItem } from './legacy-record.js';
import type { z } from 'zod';
import type { LegacyItem } from '../model/legacy-value.js';
import type { PersonResolution } from './lookups.js';
import type { Reject } from '../model/reject.js';
import type { KpiLinkRow } from '../model/rows.js';

/** `purposepath-goal-kpi-links` (contract §1), attributes in contract order. */
export const goalKpiLinkSchema = legacyRecord('GoalKpiLink', {
  Id: attribute(coerceGuid),
  TenantId: attribute(coerceGuid),
  GoalId: attribute(coerceGuid),
  KpiId: attribute(coerceGuid),
  ThresholdPct: optionalAttribute(coerceDecimal),
  LinkType: attribute(coerceLinkType),
  Weight: optionalAttribute(coerceDecimal),
  DisplayOrder: optionalAttribute(coerceDisplayOrder),
  IsPrimary: attribute(coerceBoolean),
  CreatedBy: attribute(coerceGuid),
  CreatedAt: attribute(coerceTimestamp),
  UpdatedBy: optionalAttribute(coerceGuid),
  UpdatedAt: optionalAttribute(coerceTimestamp),
});

export type LinkMapping =
  | {
      ok: true;
      rows: KpiLinkRow[];
      /** No person is linked to the resolved user: person_id is the user GUID itself. */
      personFallback: boolean;
      /** The link's KPI was found among the KPIs read. */
      kpiKnown: boolean;
    }
  | { ok: false; reject: Reject };

/**
 * A GoalKpiLink → one kpi_links row. person_id is the person linked to the KPI's owner, or
 * to the link's creator when the KPI is unknown or has no owner (contract §3).
 */
export function mapGoalKpiLink(item: LegacyItem, lookups: PersonResolution): LinkMapping {
  const parsed = goalKpiLinkSchema.parse(item);
  if (!parsed.ok) return { ok: false, reject: parsed.reject };
  return linkMappingOf(parsed.record, lookups, item.Id as string, parsed.legacyExtra);
}

/** The fast path of mapGoalKpiLink (see LegacyRecordSchema.parseTyped): undefined sends the item through mapGoalKpiLink. */
export function typedGoalKpiLink(typed: TypedItem, lookups: PersonResolution): LinkMapping | undefined {
  const parsed = goalKpiLinkSchema.parseTyped(typed);
  if (parsed === undefined) return undefined;
  return linkMappingOf(parsed.record, lookups, (typed.Id as { S: string }).S, parsed.legacyExtra);
}

function linkMappingOf(link: z.output<typeof goalKpiLinkSchema.schema>, lookups: PersonResolution, sourceId: string, legacyExtra: string): LinkMapping {
  const owner = lookups.kpiOwner(link.TenantId, link.KpiId);
  const userId = owner ?? link.CreatedBy;
  const person = lookups.personFor(link.TenantId, userId);

  const row: KpiLinkRow = {
    id: link.Id,
    tenant_id: link.TenantId,
    kpi_id: link.KpiId,
    person_id: person ?? userId,
    goal_id: link.GoalId,
    strategy_id: null,
    threshold_pct: link.ThresholdPct,
    link_type: link.LinkType,
    weight: link.Weight,
    display_order: link.DisplayOrder,
    is_primary: link.IsPrimary,
    created_by: link.CreatedBy,
    created_at: link.CreatedAt.text,
    updated_by: link.UpdatedBy,
    updated_at: link.UpdatedAt?.text ?? null,
    source_entity: 'GoalKpiLink',
    source_id: sourceId,
    legacy_extra: legacyExtra,
  };
  return { ok: true, rows: [row], personFallback: person === undefined, kpiKnown: owner !== undefined };
}
