import { canonicalDecimal } from '../model/decimal.js';
import { isLegacyMap, LegacyNumber, LegacySet, toJsonText, type LegacyValue } from '../model/legacy-value.js';

/**
 * `legacy_extra` as JSON text: the attributes a mapping did not consume, keys sorted at every
 * depth so that the same item gives the same text whatever order its attributes came in.
 */
export function legacyExtraText(attributes: Iterable<readonly [string, LegacyValue]>): string {
  const members = sortedByName([...attributes]);
  return `{${members.map(([name, value]) => `${JSON.stringify(name)}:${sortedJsonText(value)}`).join(',')}}`;
}

/** One value as legacyExtraText writes it (maps with sorted keys, numbers canonical). */
export function legacyExtraJson(value: LegacyValue): string {
  return sortedJsonText(value);
}

function sortedJsonText(value: LegacyValue): string {
  if (Array.isArray(value)) return `[${value.map(sortedJsonText).join(',')}]`;
  if (isLegacyMap(value)) return legacyExtraText(Object.entries(value));
  if (value instanceof LegacyNumber) return jsonNumberText(value);
  if (value instanceof LegacySet && value.kind === 'NS') {
    // Sorted as toJsonText sorts set members: a set has no order, and each source lists it its own way.
    return `[${value.values.map((n) => jsonNumberText(n as LegacyNumber)).sort().join(',')}]`;
  }
  return toJsonText(value);
}


/**
 * toJsonText writes a number's text verbatim, which is not always JSON (`+1`, `.5`, `0.`):
 * jsonb would refuse the whole row. Such a number is written in plain decimal form (same
 * value, same digits), and text that is no number at all as a JSON string.
 */
function jsonNumberText(number: LegacyNumber): string {
  // Canonical, as in the columns: DynamoDB and jsonb spell the same number differently.
  return canonicalDecimal(number.text.trim()) ?? JSON.stringify(number.text);
}

/**
 * Members sorted by name in place (UTF-16 code unit order, as `<` compares), stable. By insertion:
 * a record has a handful of extra attributes, and Array.prototype.sort copies the array into a
 * work array of its own on every call, garbage on every record.
 */
export function sortedByName<Member extends readonly [string, unknown]>(members: Member[]): Member[] {
  for (let at = 1; at < members.length; at++) {
    const member = members[at]!;
    const name = member[0];
    let to = at;
    while (to > 0 && members[to - 1]![0] > name) {
      members[to] = members[to - 1]!;
      to -= 1;
    }
    members[to] = member;
  }
  return members;
}
