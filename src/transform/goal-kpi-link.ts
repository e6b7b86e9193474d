import {
  coerceBoolean,
  coerceDecimal,
  coerceDisplayOrder,
  coerceGuid,
  coerceLinkType,
  coerceTimestamp,
} from './coerce.js';
import { attribute, legacyRecord, optionalAttribute } from './legacy-record.js';
import { compileFields, type ColumnSource } from './compiled-fields.js';
import { encodeCopyValue } from '../model/copy-field.js';
import { FlatItem, type TypedItem } from '../model/dynamodb-json.js';
import type { MigratedLink } from './link-index.js';
import type { z } from 'zod';
import type { LegacyItem } from '../model/legacy-value.js';
import type { PersonResolution } from './lookups.js';
import type { Reject } from '../model/reject.js';
import { KPI_LINK_COLUMNS, type KpiLinkRow } from '../model/rows.js';

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

/** A link the fast path vouched for: its row's COPY fields, and what the link index keeps of it. */
export interface FlatLinkRecord {
  /** The record's Id as written. */
  sourceId: string;
  /** The row's id (the Id, canonical). */
  rowId: string;
  /** Every contract column of its kpi_links row as COPY fields, joined by tabs (no run columns, no line end). */
  fields: string;
  link: MigratedLink;
  personFallback: boolean;
  /** The link's KPI was found among the KPIs read (as LinkMapping says). */
  kpiKnown: boolean;
}

type LinkAttribute = keyof z.output<typeof goalKpiLinkSchema.schema> & string;

/** The columns after person_id, and where each comes from (contract §3); the four before are the keys and the person. */
const LINK_COLUMNS_AFTER_PERSON: Record<(typeof KPI_LINK_COLUMNS)[number] & string, ColumnSource<LinkAttribute> | 'key'> = {
  id: 'key',
  tenant_id: 'key',
  kpi_id: 'key',
  person_id: 'key',
  goal_id: { attribute: 'GoalId' },
  strategy_id: { constant: null },
  threshold_pct: { attribute: 'ThresholdPct' },
  link_type: { attribute: 'LinkType' },
  weight: { attribute: 'Weight' },
  display_order: { attribute: 'DisplayOrder' },
  is_primary: { attribute: 'IsPrimary' },
  created_by: { attribute: 'CreatedBy' },
  created_at: { attribute: 'CreatedAt' },
  updated_by: { attribute: 'UpdatedBy' },
  updated_at: { attribute: 'UpdatedAt' },
  source_entity: { constant: 'GoalKpiLink' },
  source_id: 'source id',
  legacy_extra: 'legacy extra',
};

const KEY_COLUMNS = 4;
const linkFields = compileFields(
  goalKpiLinkSchema,
  KPI_LINK_COLUMNS.slice(KEY_COLUMNS).map((column) => {
    const source = LINK_COLUMNS_AFTER_PERSON[column];
    if (source === 'key') throw new TypeError(`kpi_links.${column} comes after person_id`);
    return source;
  }),
  ['Id', 'TenantId', 'KpiId', 'CreatedBy', 'IsPrimary'],
);
const scratch = new FlatItem();

/**
 * The fast path of mapGoalKpiLink from attributes read flat (an export line as it stands, or typed
 * JSON filled in): the row's COPY fields with no parsed record and no row object. Undefined sends
 * the item through mapGoalKpiLink, which decides its reject (test/transform/fast-path.test.ts holds
 * the two to the same bytes).
 */
export function flatGoalKpiLink(item: FlatItem, lookups: PersonResolution): FlatLinkRecord | undefined {
  const compiled = linkFields(item);
  if (compiled === undefined) return undefined;
  const [id, tenantId, kpiId, createdBy, isPrimary] = compiled.keys as [string, string, string, string, string];
  const owner = lookups.kpiOwner(tenantId, kpiId);
  const userId = owner ?? createdBy;
  const person = lookups.personFor(tenantId, userId);
  const personId = encodeCopyValue(person ?? userId, 'person_id');
  return {
    sourceId: compiled.sourceId,
    rowId: id,
    fields: `${id}\t${tenantId}\t${kpiId}\t${personId}\t${compiled.fields}`,
    link: { id, tenantId, kpiId, isPrimary: isPrimary === 't', sourceId: compiled.sourceId },
    personFallback: person === undefined,
    kpiKnown: owner !== undefined,
  };
}

/** The same from typed attributes (DynamoDB JSON as JSON.parse or a Scan gives it). */
export function typedGoalKpiLink(typed: TypedItem, lookups: PersonResolution): FlatLinkRecord | undefined {
  return flatGoalKpiLink(scratch.fill(typed), lookups);
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
