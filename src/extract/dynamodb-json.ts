// DynamoDB's typed JSON ⇄ legacy values: the form a scan, an export file and a backup hold items in.
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { LegacyNumber, LegacySet, setAttribute, type LegacyItem, type LegacyValue } from '../model/legacy-value.js';

export { fromAttributeMap, fromAttributeValue } from '../model/dynamodb-json.js';

/** Legacy value → DynamoDB typed JSON (for writing fixtures, backups and DynamoDB Local). */
export function toAttributeValue(value: LegacyValue): AttributeValue {
  if (value === null) return { NULL: true };
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'boolean') return { BOOL: value };
  if (value instanceof LegacyNumber) return { N: value.text };
  if (value instanceof Uint8Array) return { B: value };
  if (value instanceof LegacySet) {
    if (value.kind === 'SS') return { SS: value.values as string[] };
    if (value.kind === 'NS') return { NS: value.values.map((n) => (n as LegacyNumber).text) };
    return { BS: value.values as Uint8Array[] };
  }
  if (Array.isArray(value)) return { L: value.map(toAttributeValue) };
  return { M: toAttributeMap(value) };
}

export function toAttributeMap(item: LegacyItem): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(item)) setAttribute(out, name, toAttributeValue(value));
  return out;
}
