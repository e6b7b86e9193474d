import type { LegacySource } from '../model/source.js';
import type { LegacyEntity } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';

/** Every item of a table, page by page, for the in-memory lookups (KPIs, people, the link index). */
export async function* itemsOf(source: LegacySource, entity: LegacyEntity): AsyncGenerator<LegacyItem> {
  for await (const page of source.readTable(entity)) yield* page.items;
}
