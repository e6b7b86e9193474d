import { coerceGuid, coerceText } from './coerce.js';
import { attribute, legacyRecord, optionalAttribute, type TypedItem } from './legacy-record.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { Reject } from '../model/reject.js';

/** `purposepath-people` (contract §1): read only to turn user GUIDs into person ids. */
export const personSchema = legacyRecord('Person', {
  Id: attribute(coerceGuid),
  TenantId: attribute(coerceGuid),
  DisplayName: attribute(coerceText),
  LinkedUserId: optionalAttribute(coerceGuid),
});

export interface Person {
  id: string;
  tenantId: string;
  displayName: string;
  /** The user GUID this person stands for, null when none. */
  linkedUserId: string | null;
}

export function parsePerson(item: LegacyItem): { ok: true; value: Person } | { ok: false; reject: Reject } {
  const parsed = personSchema.parse(item);
  if (!parsed.ok) return { ok: false, reject: parsed.reject };
  const { Id, TenantId, DisplayName, LinkedUserId } = parsed.record;
  return { ok: true, value: { id: Id, tenantId: TenantId, displayName: DisplayName, linkedUserId: LinkedUserId } };
}

/** The fast path of parsePerson (see LegacyRecordSchema.parseTyped): undefined sends the item through parsePerson. */
export function typedPerson(typed: TypedItem): Person | undefined {
  const parsed = personSchema.parseTyped(typed);
  if (parsed === undefined) return undefined;
  const { Id, TenantId, DisplayName, LinkedUserId } = parsed.record;
  return { id: Id, tenantId: TenantId, displayName: DisplayName, linkedUserId: LinkedUserId };
}
