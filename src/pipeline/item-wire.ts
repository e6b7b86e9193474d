import { isLegacyMap, LegacyNumber, LegacySet, type LegacyItem, type LegacyValue } from '../model/legacy-value.js';
import { fromAttributeMap } from '../extract/dynamodb-json.js';

/**
 * A legacy item as DynamoDB JSON text (binary as base64), to cross a thread boundary: structured
 * clone would turn LegacyNumber and LegacySet into plain objects. `itemFromWire` gives back an
 * item equal to the one written, attribute for attribute (`__proto__` included).
 */
export function itemToWire(item: LegacyItem): string {
  return mapText(item);
}

export function itemFromWire(text: string): LegacyItem {
  return fromAttributeMap(JSON.parse(text) as Record<string, Record<string, unknown>>);
}

function mapText(map: { [attribute: string]: LegacyValue }): string {
  const members: string[] = [];
  for (const [name, value] of Object.entries(map)) members.push(`${JSON.stringify(name)}:${valueText(value)}`);
  return `{${members.join(',')}}`;
}

function base64(bytes: Uint8Array): string {
  return JSON.stringify(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'));
}

function valueText(value: LegacyValue): string {
  if (value === null) return '{"NULL":true}';
  if (typeof value === 'string') return `{"S":${JSON.stringify(value)}}`;
  if (typeof value === 'boolean') return value ? '{"BOOL":true}' : '{"BOOL":false}';
  if (value instanceof LegacyNumber) return `{"N":${JSON.stringify(value.text)}}`;
  if (value instanceof Uint8Array) return `{"B":${base64(value)}}`;
  if (value instanceof LegacySet) {
    const members = value.values.map((member) =>
      member instanceof Uint8Array ? base64(member) : JSON.stringify(member instanceof LegacyNumber ? member.text : member),
    );
    return `{"${value.kind}":[${members.join(',')}]}`;
  }
  if (Array.isArray(value)) return `{"L":[${value.map(valueText).join(',')}]}`;
  if (isLegacyMap(value)) return `{"M":${mapText(value)}}`;
  throw new TypeError(`not a legacy value: ${String(value)}`);
}
