import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DataEntity, LegacyEntity } from '../model/entities.js';
import type { RejectReason } from '../model/reject.js';
import { randomGuid, rngFor, type Rng } from './prng.js';
import {
  BOOL_FORMS,
  CONFIDENCE_FORMS,
  ENUM_FORMS,
  FormPicker,
  GUID_FORMS,
  INT4_FORMS,
  NOTHING_FORMS,
  NUMBER_FORMS,
  OPTIONAL_FORMS,
  SERVICE_ACCOUNTS,
  TEXT_FORMS,
  TIMESTAMP_FORMS,
  UNKNOWN_ENUM_VALUES,
  UNKNOWN_KINDS,
  boolValue,
  confidenceValue,
  enumText,
  externalReference,
  flagValue,
  guidText,
  int4Value,
  invalidBool,
  invalidConfidence,
  invalidInt4,
  invalidNumber,
  invalidTimestamp,
  kpiName,
  malformedGuid,
  malformedReference,
  nothing,
  numberValue,
  personName,
  randomInstant,
  textValue,
  textWithNul,
  timestampValue,
  unknownAttribute,
} from './forms.js';
import { ATTRIBUTES, ENUM_VALUES, NUL_TEXT_ATTRIBUTES, attributeReasons, type AttributeSpec } from './schema.js';
import type { Fate, Population } from './population.js';
import { factId, factTarget, fateOf, type FactPlans, type FactTarget } from './facts.js';

/** One legacy item as DynamoDB holds it: the wire types (BOOL vs N vs S, N vs numeric S) are decided here. */
export type AttributeMap = Record<string, AttributeValue>;

/** Canonical values an attribute must carry (GUIDs, who wrote it); null: the plan says it has none. */
type Refs = Record<string, string | null>;

/** Share of rejected records that carry a second, later problem (the first one names the reason). */
const SECOND_PROBLEM_SHARE = 0.3;

/** Optional attributes the plan decides (person resolution depends on them), not the form picker. */
const PLANNED_OPTIONALS = new Set(['Kpi.OwnerId', 'Person.LinkedUserId']);

const UNKNOWN_ATTRIBUTE_COUNTS = [
  [0, 50],
  [1, 30],
  [2, 15],
  [3, 5],
] as const;

/**
 * Renders the items of one table in order. Each item comes from its own seeded PRNG; only the
 * form coverage (every messy form in the first records meant to migrate) runs across the table.
 */
export class TableRenderer {
  private readonly picker = new FormPicker();

  constructor(
    private readonly population: Population,
    private readonly facts: FactPlans,
  ) {}

  kpi(index: number): AttributeMap {
    const { seed, kpis, tenants } = this.population;
    const kpi = kpis[index]!;
    const rng = rngFor(seed, 'Kpi', index, 'item');
    const refs: Refs = { Id: kpi.id, TenantId: tenants[kpi.tenant]!, Name: kpiName(rng), OwnerId: kpi.owner };
    return this.build('Kpi', refs, rng, 'migrated');
  }

  person(index: number): AttributeMap {
    const { seed, people, tenants } = this.population;
    const person = people[index]!;
    const rng = rngFor(seed, 'Person', index, 'item');
    const refs: Refs = {
      Id: person.id,
      TenantId: tenants[person.tenant]!,
      DisplayName: personName(rng),
      LinkedUserId: person.linkedUser,
    };
    return this.build('Person', refs, rng, 'migrated');
  }

  link(index: number): AttributeMap {
    const { seed, links, kpis, tenants, users } = this.population;
    const link = links[index]!;
    const rng = rngFor(seed, 'GoalKpiLink', index, 'item');
    const refs: Refs = {
      Id: link.id,
      TenantId: tenants[link.tenant]!,
      GoalId: link.goal,
      KpiId: kpis[link.kpi]!.id,
      CreatedBy: link.createdBy,
      UpdatedBy: rng.pick(users[link.tenant]!),
    };
    return this.build('GoalKpiLink', refs, rng, link.fate);
  }

  fact(entity: DataEntity, index: number): AttributeMap {
    const { seed, tenants, kpis, users } = this.population;
    const plan = this.facts[entity];
    const fate = fateOf(plan, index);
    const target: FactTarget = factTarget(this.population, seed, entity, index, fate);
    const conflict = plan.conflicts.get(index);
    const rng = rngFor(seed, entity, index, 'item');
    const who = (): string =>
      rng.chance(0.05)
        ? rng.pick(SERVICE_ACCOUNTS)
        : guidText(rng.pick(users[target.tenant]!), this.picker.choose(`${entity}.who`, GUID_FORMS, rng, fate === 'migrated'), rng);
    const refs: Refs = {
      Id: conflict ? factId(seed, conflict.entity, conflict.index) : factId(seed, entity, index),
      TenantId: tenants[target.tenant]!,
      KpiId: typeof target.kpi === 'number' ? kpis[target.kpi]!.id : target.kpi,
      CreatedBy: who(),
      UpdatedBy: who(),
      RecordedBy: who(),
      ReadBy: who(),
      ExternalRef: externalReference(rng),
    };
    return this.build(entity, refs, rng, fate);
  }

  private build(entity: LegacyEntity, refs: Refs, rng: Rng, fate: Fate): AttributeMap {
    const cover = fate === 'migrated';
    const specs = ATTRIBUTES[entity];
    const values = new Map<string, AttributeValue | undefined>();
    for (const spec of specs) {
      const key = formKeys(entity, spec);
      const absent = PLANNED_OPTIONALS.has(key.value)
        ? refs[spec.name] === null
        : !spec.required && this.picker.choose(key.optional, OPTIONAL_FORMS, rng, cover) !== 'present';
      if (absent) {
        values.set(spec.name, nothing(this.picker.choose(key.nothing, NOTHING_FORMS, rng, cover)));
      } else {
        values.set(spec.name, this.present(key.value, spec, refs, rng, cover));
      }
    }

    if (fate === 'db_error') {
      const attribute = rng.pick(NUL_TEXT_ATTRIBUTES[entity] ?? []);
      values.set(attribute, { S: textWithNul(rng) });
    } else if (fate !== 'migrated' && fate !== 'no_kpi_link' && fate !== 'id_conflict') {
      const first = rng.pick(specs.filter((spec) => attributeReasons(spec).includes(fate)));
      values.set(first.name, broken(first, fate, refs, rng));
      const later = specs.slice(specs.indexOf(first) + 1).filter((spec) => attributeReasons(spec).length > 0);
      if (later.length > 0 && rng.chance(SECOND_PROBLEM_SHARE)) {
        const second = rng.pick(later);
        values.set(second.name, broken(second, rng.pick(attributeReasons(second)), refs, rng));
      }
    }

    const item: AttributeMap = {};
    for (const [name, value] of values) if (value !== undefined) item[name] = value;
    const unknownKey = `${entity}.unknown`;
    let extra: number = rng.weighted(UNKNOWN_ATTRIBUTE_COUNTS);
    if (cover && extra === 0 && this.picker.covering(unknownKey, UNKNOWN_KINDS.length)) extra = 1;
    for (let i = 0; i < extra; i++) {
      const [name, value] = unknownAttribute(this.picker.choose(unknownKey, UNKNOWN_KINDS, rng, cover), rng);
      item[name] = value;
    }
    return item;
  }

  private present(key: string, spec: AttributeSpec, refs: Refs, rng: Rng, cover: boolean): AttributeValue {
    const ref = refs[spec.name];
    switch (spec.kind) {
      case 'id':
      case 'guid':
      case 'user':
        return { S: guidText(ref ?? randomGuid(rng), this.picker.choose(key, GUID_FORMS, rng, cover), rng) };
      case 'text':
        return { S: ref ?? textValue(this.picker.choose(key, TEXT_FORMS, rng, cover), rng) };
      case 'number':
        return numberValue(this.picker.choose(key, NUMBER_FORMS, rng, cover), rng);
      case 'confidence':
        return confidenceValue(this.picker.choose(key, CONFIDENCE_FORMS, rng, cover), rng);
      case 'int4':
        return int4Value(this.picker.choose(key, INT4_FORMS, rng, cover), rng);
      case 'bool':
        return boolValue(this.picker.choose(key, BOOL_FORMS, rng, cover), rng.chance(0.4));
      case 'timestamp':
        return timestampValue(this.picker.choose(key, TIMESTAMP_FORMS, rng, cover), randomInstant(rng), rng);
      case 'enum':
        return { S: enumText(rng.pick(ENUM_VALUES[spec.name]!), this.picker.choose(key, ENUM_FORMS, rng, cover)) };
      case 'flag':
        return flagValue(rng);
    }
  }
}

const keysOf = new WeakMap<AttributeSpec, { value: string; optional: string; nothing: string }>();

/** Form-coverage keys of an attribute: its value's form, whether it is present, how it is not. */
function formKeys(entity: LegacyEntity, spec: AttributeSpec): { value: string; optional: string; nothing: string } {
  let keys = keysOf.get(spec);
  if (keys === undefined) {
    const value = `${entity}.${spec.name}`;
    keys = { value, optional: `${value}?`, nothing: `${value}!` };
    keysOf.set(spec, keys);
  }
  return keys;
}

/** The attribute broken so that the record is rejected for `reason`. */
function broken(spec: AttributeSpec, reason: RejectReason, refs: Refs, rng: Rng): AttributeValue | undefined {
  switch (reason) {
    case 'missing_field':
      return nothing(rng.pick(['absent', 'null', 'empty'] as const));
    case 'invalid_id':
      // A malformed Id stays unique: it is still the table's key.
      return { S: spec.kind === 'id' ? malformedGuid(refs.Id!, rng) : malformedReference(refs[spec.name] ?? randomGuid(rng), rng) };
    case 'unknown_enum':
      return { S: rng.pick(UNKNOWN_ENUM_VALUES[spec.name]!) };
    case 'invalid_value':
      if (spec.kind === 'number') return invalidNumber(rng);
      if (spec.kind === 'confidence') return invalidConfidence(rng);
      if (spec.kind === 'int4') return invalidInt4(rng);
      if (spec.kind === 'bool') return invalidBool(rng);
      if (spec.kind === 'timestamp') return invalidTimestamp(rng);
      break;
    default:
      break;
  }
  throw new Error(`cannot break ${spec.name} for ${reason}`);
}
