/**
 * Malformed legacy items, as DynamoDB JSON export lines, with the outcome each must have: loaded
 * as is, a reject with a reason (lines that are no item at all too, keeping the line), or (for
 * bytes that are not text) the run stopped with SOURCE_CORRUPT naming the file and line.
 */
import type { RejectReason } from '../../src/model/reject.js';

export const TENANT = 'a0000000-0000-4000-8000-000000000001';
export const KPI = 'b0000000-0000-4000-8000-000000000001';
export const USER = 'c0000000-0000-4000-8000-000000000001';
export const PERSON = 'd0000000-0000-4000-8000-000000000001';
export const LINK = 'e0000000-0000-4000-8000-000000000001';
export const GOAL = 'f0000000-0000-4000-8000-000000000001';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type DynamoDbJsonItem = { [attribute: string]: Json };

export const S = (value: string) => ({ S: value });
export const N = (value: string) => ({ N: value });

export function exportLine(item: Json): string {
  return JSON.stringify({ Item: item });
}

export const lookups = {
  Kpi: [
    exportLine({ Id: S(KPI), TenantId: S(TENANT), Name: S('Revenue'), OwnerId: S(USER) }),
    // A bad lookup record is a reject of the lookup, never a crash.
    exportLine({ Id: N('42'), TenantId: S(TENANT), Name: S('numeric id') }),
  ],
  Person: [
    exportLine({ Id: S(PERSON), TenantId: S(TENANT), DisplayName: S('Ada'), LinkedUserId: S(USER) }),
    exportLine({ Id: S('d0000000-0000-4000-8000-000000000002'), TenantId: { BOOL: true }, DisplayName: S('bool tenant') }),
  ],
  GoalKpiLink: [
    exportLine({ Id: S(LINK), TenantId: S(TENANT), GoalId: S(GOAL), KpiId: S(KPI), CreatedBy: S(USER), CreatedAt: S('2024-01-01T00:00:00Z') }),
    exportLine({ Id: S('e0000000-0000-4000-8000-000000000002'), TenantId: S(TENANT), KpiId: { L: [S(KPI)] }, CreatedBy: S(USER), CreatedAt: S('2024-01-01') }),
  ],
};

let counter = 0;
/** A fresh milestone id (distinct per case, so every case is found by its id). */
export function milestoneId(): string {
  counter += 1;
  return `10000000-0000-4000-8000-${String(counter).padStart(12, '0')}`;
}

/** A valid milestone with `changes` applied (an attribute set to undefined is removed). */
export function milestone(id: string, changes: Record<string, Json | undefined> = {}): DynamoDbJsonItem {
  const item: Record<string, Json | undefined> = {
    Id: S(id),
    TenantId: S(TENANT),
    KpiId: S(KPI),
    TargetValue: N('12.5'),
    MilestoneDate: S('2024-06-30'),
    CreatedBy: S(USER),
    CreatedAt: S('2024-01-02T03:04:05Z'),
    ...changes,
  };
  return Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined)) as DynamoDbJsonItem;
}

function nested(depth: number): Json {
  let value: Json = S('bottom');
  for (let i = 0; i < depth; i++) value = { M: { level: value } };
  return value;
}

const MEGABYTE = 'x'.repeat(1024 * 1024);

export interface LoadedCase {
  name: string;
  id: string;
  line: string;
  /** A SQL expression over the loaded kpi_data row (`$2` = `params[0]`), and its value as text. */
  check: { expression: string; params?: unknown[]; equals: string };
}

export interface RejectedCase {
  name: string;
  /** The raw Id as the reject keeps it (null when the item has no string Id). */
  sourceId: string | null;
  line: string;
  reason: RejectReason;
  /** The attribute the reject names. */
  attribute?: string;
}

export function loadedCases(): LoadedCase[] {
  const cases: LoadedCase[] = [];
  const add = (name: string, changes: Record<string, Json | undefined>, check: LoadedCase['check']) => {
    const id = milestoneId();
    cases.push({ name, id, line: exportLine(milestone(id, changes)), check });
  };
  const deepPath = (attribute: string, depth: number) => `jsonb_path_query_first(legacy_extra, '$.${attribute}${'.level'.repeat(depth)}') #>> '{}'`;
  const extraIs = (json: string) => ({ expression: 'legacy_extra = $2::jsonb', params: [json], equals: 'true' });
  add('a 1 MB label', { Label: S(MEGABYTE) }, { expression: 'length(label)', equals: String(MEGABYTE.length) });
  add('a 1 MB unknown attribute', { Commentary: S(MEGABYTE) }, { expression: `length(legacy_extra ->> 'Commentary')`, equals: String(MEGABYTE.length) });
  add('a map nested 150 deep', { Deep: nested(150) }, { expression: deepPath('Deep', 150), equals: 'bottom' });
  add('a map nested 1000 deep', { Deeper: nested(1000) }, { expression: deepPath('Deeper', 1000), equals: 'bottom' });
  add(
    'set and binary attributes the mapping does not know',
    { Tags: { SS: ['b', 'a'] }, Scores: { NS: ['2', '1.50'] }, Blobs: { BS: ['AAE=', '/w=='] }, Raw: { B: 'AP8=' } },
    // Sets come out sorted (each source lists them in its own order); binary as base64.
    extraIs('{"Tags":["a","b"],"Scores":[1.5,2],"Blobs":["/w==","AAE="],"Raw":"AP8="}'),
  );
  const wide: Record<string, Json> = {};
  for (let i = 0; i < 400; i++) wide[`Extra${String(i).padStart(3, '0')}`] = S('y'.repeat(1000));
  add('a 400 KB item of 400 unknown attributes', wide, { expression: '(select count(*) from jsonb_object_keys(legacy_extra))', equals: '400' });
  add(
    'attributes named __proto__, constructor and toString',
    { ['__proto__']: S('not a prototype'), constructor: S('not a constructor'), toString: N('7') },
    extraIs('{"__proto__":"not a prototype","constructor":"not a constructor","toString":7}'),
  );
  add('a __proto__ map (no prototype pollution)', { ['__proto__']: { M: { polluted: { BOOL: true } } } }, extraIs('{"__proto__":{"polluted":true}}'));
  add('a 38-digit target', { TargetValue: N('12345678901234567890.123456789012345678') }, { expression: 'post_value::text', equals: '12345678901234567890.123456789012345678' });
  return cases;
}

export function rejectedCases(): RejectedCase[] {
  const cases: RejectedCase[] = [];
  const add = (name: string, changes: Record<string, Json | undefined>, reason: RejectReason, attribute: string | undefined, sourceId?: string | null) => {
    const id = milestoneId();
    cases.push({ name, sourceId: sourceId === undefined ? id : sourceId, line: exportLine(milestone(id, changes)), reason, ...(attribute ? { attribute } : {}) });
  };
  add('Id as a number', { Id: N('1') }, 'invalid_value', 'Id', null);
  add('Id as binary', { Id: { B: 'AAEC' } }, 'invalid_value', 'Id', null);
  add('Id as a 1 MB string', { Id: S(MEGABYTE) }, 'invalid_id', 'Id', MEGABYTE);
  // A valid GUID once trimmed, but the Id as read (source_id) is too long for the target's index
  // (varied whitespace, so that it does not compress below the index's limit).
  const spaces = ' \t\n\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';
  let padding = '';
  for (let i = 0, x = 7; i < 100_000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    padding += spaces[x % spaces.length];
  }
  const paddedId = `${padding}${milestoneId()}`;
  add('a valid Id behind 100,000 whitespace characters', { Id: S(paddedId) }, 'db_error', undefined, paddedId);
  add('TenantId as a list', { TenantId: { L: [S(TENANT)] } }, 'invalid_value', 'TenantId');
  add('KpiId NULL', { KpiId: { NULL: true } }, 'missing_field', 'KpiId');
  add('TargetValue as a map', { TargetValue: { M: { value: N('1') } } }, 'invalid_value', 'TargetValue');
  add('TargetValue as a number set', { TargetValue: { NS: ['1'] } }, 'invalid_value', 'TargetValue');
  add('TargetValue as binary', { TargetValue: { B: 'MQ==' } }, 'invalid_value', 'TargetValue');
  add('TargetValue with 200,000 digits', { TargetValue: N('9'.repeat(200_000)) }, 'invalid_value', 'TargetValue');
  add('TargetValue NaN', { TargetValue: N('NaN') }, 'invalid_value', 'TargetValue');
  add('a rejected item with a __proto__ attribute (kept in the raw item)', { TargetValue: N('Infinity'), ['__proto__']: S('kept') }, 'invalid_value', 'TargetValue');
  add('MilestoneDate as a boolean', { MilestoneDate: { BOOL: true } }, 'invalid_value', 'MilestoneDate');
  add('MilestoneDate in year 99999', { MilestoneDate: S('99999-01-01') }, 'invalid_value', 'MilestoneDate');
  add('CreatedAt as a string set', { CreatedAt: { SS: ['2024-01-01'] } }, 'invalid_value', 'CreatedAt');
  add('Label as a string set', { Label: { SS: ['a'] } }, 'invalid_value', 'Label');
  add('ConfidenceLevel as words', { ConfidenceLevel: S('very high') }, 'invalid_value', 'ConfidenceLevel');
  add('a KPI with no link', { KpiId: S('b0000000-0000-4000-8000-00000000ffff') }, 'no_kpi_link', 'KpiId');
  add('a NUL character in the label (text cannot hold it)', { Label: S('before\u0000after') }, 'db_error', undefined);
  cases.push({ name: 'an empty item', sourceId: null, line: exportLine({}), reason: 'missing_field', attribute: 'Id' });
  return cases;
}

export interface CorruptCase {
  name: string;
  /** The bad line's bytes (a string is written as UTF-8). */
  line: string | Buffer;
  /** What the message must say after "line N". */
  says: RegExp;
}

export function corruptCases(): CorruptCase[] {
  const good = exportLine(milestone(milestoneId()));
  const [head, tail] = [good.slice(0, good.indexOf('"TargetValue"')), good.slice(good.indexOf('"TargetValue"'))];
  return [
    {
      name: 'invalid UTF-8 bytes inside a string',
      line: Buffer.concat([Buffer.from(`${head}"Label":{"S":"caf`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(`"},${tail}`)]),
      says: /is not valid UTF-8/,
    },
    { name: 'a lone UTF-16 surrogate written as UTF-8 bytes', line: Buffer.concat([Buffer.from(`${head}"Label":{"S":"`), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(`"},${tail}`)]), says: /is not valid UTF-8/ },
  ];
}

/** A line that is text but no item: a record all the same, rejected (invalid_value) with the line kept. */
export interface UnreadableLineCase {
  name: string;
  line: string;
  /** What the reject names: `Item` for the line as a whole, else the attribute that is not typed JSON. */
  attribute: string;
  /** Item.Id.S when the line has one. */
  sourceId: string | null;
  says: RegExp;
}

export function unreadableLineCases(): UnreadableLineCase[] {
  const id = milestoneId();
  const good = exportLine(milestone(id));
  const [head, tail] = [good.slice(0, good.indexOf('"TargetValue"')), good.slice(good.indexOf('"TargetValue"'))];
  const notAnItem = /: not a \{"Item": \{…\}\} object$/;
  return [
    { name: 'Item is a string', line: '{"Item":"not a map"}', attribute: 'Item', sourceId: null, says: notAnItem },
    { name: 'Item is a list', line: '{"Item":[{"Id":{"S":"x"}}]}', attribute: 'Item', sourceId: null, says: notAnItem },
    { name: 'Item is null', line: '{"Item":null}', attribute: 'Item', sourceId: null, says: notAnItem },
    { name: 'a list at top level', line: '[{"Item":{"Id":{"S":"x"}}}]', attribute: 'Item', sourceId: null, says: notAnItem },
    { name: 'a number at top level', line: '42', attribute: 'Item', sourceId: null, says: notAnItem },
    { name: 'no Item member', line: '{"Items":{"Id":{"S":"x"}}}', attribute: 'Item', sourceId: null, says: notAnItem },
    { name: 'a line cut short', line: good.slice(0, 40), attribute: 'Item', sourceId: null, says: /: not JSON \(.+\)$/ },
    { name: 'an attribute that is not typed JSON', line: '{"Item":{"Id":"plain string"}}', attribute: 'Id', sourceId: null, says: /not a DynamoDB attribute value: "plain string"$/ },
    { name: 'an unknown type tag', line: '{"Item":{"Id":{"X":"y"}}}', attribute: 'Id', sourceId: null, says: /not a DynamoDB attribute value: \["X"\]$/ },
    { name: 'BOOL given as the string "false"', line: `${head}"IsSpecial":{"BOOL":"false"},${tail}`, attribute: 'IsSpecial', sourceId: id, says: /a DynamoDB BOOL attribute holds the string false$/ },
    { name: 'S given as a number', line: '{"Item":{"Id":{"S":12345}}}', attribute: 'Id', sourceId: null, says: /a DynamoDB S attribute holds the number 12345$/ },
    { name: 'N given as a JSON number', line: '{"Item":{"Id":{"S":"x"},"TargetValue":{"N":1e400}}}', attribute: 'TargetValue', sourceId: 'x', says: /a DynamoDB N attribute holds the number Infinity$/ },
    { name: 'SS given as a string', line: '{"Item":{"Id":{"S":"y"},"Tags":{"SS":"a,b"}}}', attribute: 'Tags', sourceId: 'y', says: /a DynamoDB SS attribute holds the string a,b$/ },
  ];
}
