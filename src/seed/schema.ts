import type { LegacyEntity } from '../model/entities.js';
import type { RejectReason } from '../model/reject.js';

/**
 * What the generator must know of each legacy attribute to write it validly or break it on
 * purpose. `guid` is checked as a GUID (a malformed one is `invalid_id`); `user` is a user GUID
 * the mapping does not check; `text` is free text; `flag` is AutoAdjustmentApplied (see
 * expected.ts for why it is only ever a "true"/"false" string).
 */
export type AttributeKind =
  | 'id'
  | 'guid'
  | 'user'
  | 'text'
  | 'number'
  | 'confidence'
  | 'int4'
  | 'bool'
  | 'timestamp'
  | 'enum'
  | 'flag';

export interface AttributeSpec {
  name: string;
  kind: AttributeKind;
  required: boolean;
}

const spec = (name: string, kind: AttributeKind, required: boolean): AttributeSpec => ({ name, kind, required });

/** Every entity's attributes in the contract's order (§1): the first problem in this order names the reject. */
export const ATTRIBUTES: Record<LegacyEntity, readonly AttributeSpec[]> = {
  Kpi: [spec('Id', 'id', true), spec('TenantId', 'guid', true), spec('Name', 'text', true), spec('OwnerId', 'user', false)],
  Person: [
    spec('Id', 'id', true),
    spec('TenantId', 'guid', true),
    spec('DisplayName', 'text', true),
    spec('LinkedUserId', 'user', false),
  ],
  GoalKpiLink: [
    spec('Id', 'id', true),
    spec('TenantId', 'guid', true),
    spec('GoalId', 'guid', true),
    spec('KpiId', 'guid', true),
    spec('ThresholdPct', 'number', false),
    spec('LinkType', 'enum', false),
    spec('Weight', 'number', false),
    spec('DisplayOrder', 'int4', false),
    spec('IsPrimary', 'bool', false),
    // A uuid column in kpi_links, so it is checked like an id.
    spec('CreatedBy', 'guid', true),
    spec('CreatedAt', 'timestamp', true),
    spec('UpdatedBy', 'user', false),
    spec('UpdatedAt', 'timestamp', false),
  ],
  KpiMilestone: [
    spec('Id', 'id', true),
    spec('TenantId', 'guid', true),
    spec('KpiId', 'guid', true),
    spec('TargetValue', 'number', true),
    spec('MilestoneDate', 'timestamp', true),
    spec('Label', 'text', false),
    spec('ConfidenceLevel', 'confidence', false),
    spec('Rationale', 'text', false),
    spec('CreatedBy', 'text', true),
    spec('CreatedAt', 'timestamp', true),
    spec('UpdatedBy', 'text', false),
    spec('UpdatedAt', 'timestamp', false),
  ],
  KpiActual: [
    spec('Id', 'id', true),
    spec('TenantId', 'guid', true),
    spec('KpiId', 'guid', true),
    spec('ActualValue', 'number', true),
    spec('MeasurementDate', 'timestamp', true),
    spec('OriginalValue', 'number', false),
    spec('IsManualOverride', 'bool', false),
    spec('OverrideComment', 'text', false),
    spec('DataSource', 'enum', false),
    // Optional, and its column is text: a reference that is not a GUID is kept, not rejected.
    spec('SourceReferenceId', 'text', false),
    spec('TriggersReplan', 'bool', false),
    spec('ReplanThresholdExceeded', 'bool', false),
    spec('AutoAdjustmentApplied', 'flag', false),
    spec('RecordedBy', 'text', true),
    spec('RecordedAt', 'timestamp', true),
  ],
  KpiReading: [
    spec('Id', 'id', true),
    spec('TenantId', 'guid', true),
    spec('KpiId', 'guid', true),
    spec('Value', 'number', true),
    spec('ReadingDate', 'timestamp', true),
    spec('PeriodStart', 'timestamp', false),
    spec('Source', 'enum', false),
    spec('ExternalRef', 'text', false),
    spec('Notes', 'text', false),
    spec('ReadBy', 'text', true),
    spec('ReadAt', 'timestamp', true),
  ],
};

/** The reject reasons an attribute can be given on purpose (missing Id is impossible: it is the table key). */
export function attributeReasons(attribute: AttributeSpec): RejectReason[] {
  const reasons: RejectReason[] = [];
  if (attribute.required && attribute.kind !== 'id') reasons.push('missing_field');
  if (attribute.kind === 'id' || attribute.kind === 'guid') reasons.push('invalid_id');
  if (['number', 'confidence', 'int4', 'bool', 'timestamp'].includes(attribute.kind)) reasons.push('invalid_value');
  if (attribute.kind === 'enum') reasons.push('unknown_enum');
  return reasons;
}

/** Text attributes that become text columns of kpi_data: where a NUL makes PostgreSQL refuse the row. */
export const NUL_TEXT_ATTRIBUTES: Partial<Record<LegacyEntity, readonly string[]>> = {
  KpiMilestone: ['Label', 'Rationale'],
  KpiActual: ['OverrideComment'],
  KpiReading: ['Notes', 'ExternalRef'],
};

export const ENUM_VALUES: Record<string, readonly string[]> = {
  LinkType: ['Primary', 'Supporting', 'Monitoring'],
  DataSource: ['Manual', 'Integration', 'Import', 'Calculated'],
  Source: ['Manual', 'Integration', 'Import', 'Calculated'],
};
