import { LegacyNumber, type LegacyItem } from '../../src/model/legacy-value.js';

/** A DynamoDB `N` as the extract stage hands it over. */
export const N = (text: string): LegacyNumber => new LegacyNumber(text);

export const TENANT = '0b7c3a52-8f55-4d3b-9f5e-3c0c3f1a0001';
export const OTHER_TENANT = '0b7c3a52-8f55-4d3b-9f5e-3c0c3f1a0002';
export const KPI = '5d1f0c8e-2a4b-4c6d-8e0f-1a2b3c4d0001';
export const GOAL = '9e8d7c6b-5a49-4838-a726-151413120001';
export const OWNER_USER = 'aaaaaaaa-0000-4000-8000-000000000001';
export const CREATOR_USER = 'aaaaaaaa-0000-4000-8000-000000000002';
export const OWNER_PERSON = 'bbbbbbbb-0000-4000-8000-000000000001';
export const CREATOR_PERSON = 'bbbbbbbb-0000-4000-8000-000000000002';
export const LINK_A = 'cccccccc-0000-4000-8000-00000000000a';
export const LINK_B = 'cccccccc-0000-4000-8000-00000000000b';
export const LINK_C = 'cccccccc-0000-4000-8000-00000000000c';
export const RECORD_ID = 'dddddddd-0000-4000-8000-000000000001';

export function kpiItem(overrides: LegacyItem = {}): LegacyItem {
  return { Id: KPI, TenantId: TENANT, Name: 'Revenue', OwnerId: OWNER_USER, ...overrides };
}

export function personItem(overrides: LegacyItem = {}): LegacyItem {
  return { Id: OWNER_PERSON, TenantId: TENANT, DisplayName: 'Ada', LinkedUserId: OWNER_USER, ...overrides };
}

export function linkItem(overrides: LegacyItem = {}): LegacyItem {
  return {
    Id: LINK_A,
    TenantId: TENANT,
    GoalId: GOAL,
    KpiId: KPI,
    ThresholdPct: N('12.50'),
    LinkType: 'Primary',
    Weight: N('0.75'),
    DisplayOrder: N('2'),
    IsPrimary: true,
    CreatedBy: CREATOR_USER,
    CreatedAt: '2023-04-05T06:07:08.123Z',
    UpdatedBy: OWNER_USER,
    UpdatedAt: '2023-05-06T07:08:09Z',
    ...overrides,
  };
}

export function milestoneItem(overrides: LegacyItem = {}): LegacyItem {
  return {
    Id: RECORD_ID,
    TenantId: TENANT,
    KpiId: KPI,
    TargetValue: N('1000.50'),
    MilestoneDate: '2024-12-31',
    Label: 'Year end',
    ConfidenceLevel: N('4'),
    Rationale: 'Plan',
    CreatedBy: CREATOR_USER,
    CreatedAt: '2024-01-02T03:04:05Z',
    UpdatedBy: 'system',
    UpdatedAt: '2024-02-03T04:05:06+01:00',
    ...overrides,
  };
}

export function actualItem(overrides: LegacyItem = {}): LegacyItem {
  return {
    Id: RECORD_ID,
    TenantId: TENANT,
    KpiId: KPI,
    ActualValue: N('987.654'),
    MeasurementDate: '2024-03-31T00:00:00Z',
    OriginalValue: '900',
    IsManualOverride: N('1'),
    OverrideComment: 'corrected',
    DataSource: 'Integration',
    SourceReferenceId: 'ERP-42',
    TriggersReplan: 'TRUE',
    ReplanThresholdExceeded: false,
    AutoAdjustmentApplied: true,
    RecordedBy: CREATOR_USER.toUpperCase(),
    RecordedAt: N('1711843200000'),
    ...overrides,
  };
}

export function readingItem(overrides: LegacyItem = {}): LegacyItem {
  return {
    Id: RECORD_ID,
    TenantId: TENANT,
    KpiId: KPI,
    Value: N('42'),
    ReadingDate: '2024-04-01T12:00:00Z',
    PeriodStart: '2024-03-01',
    Source: 'import',
    ExternalRef: 'sheet-7',
    Notes: 'monthly',
    ReadBy: CREATOR_USER,
    ReadAt: '2024-04-01T12:30:00.5Z',
    ...overrides,
  };
}
