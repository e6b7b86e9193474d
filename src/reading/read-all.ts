import type { LegacySource, NextRead } from '../model/source.js';
import type { LegacyEntity } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { TypedItem } from '../model/dynamodb-json.js';

/** Every item of a table, page by page, for the in-memory lookups (KPIs, people, the link index). */
export async function* itemsOf(source: LegacySource, entity: LegacyEntity): AsyncGenerator<LegacyItem> {
  for await (const page of source.readTable(entity)) yield* page.items;
}

/**
 * Every item of a table as `parseTyped` reads it: the typed attributes where the source has them
 * (`typed`), else the item (`item`, built only then). Lets a lookup skip the item's tree.
 * `next`: the table read after this one (see NextRead).
 */
export async function* typedItemsOf(source: LegacySource, entity: LegacyEntity, next?: NextRead): AsyncGenerator<{ typed?: TypedItem; item: () => LegacyItem }> {
  if (source.readTypedTable === undefined) {
    for await (const page of source.readTable(entity, undefined, next)) for (const item of page.items) yield { item: () => item };
    return;
  }
  for await (const page of source.readTypedTable(entity, undefined, next)) {
    for (let index = 0; index < page.count; index++) {
      const typed = page.typed(index);
      yield { ...(typed === undefined ? {} : { typed }), item: () => page.item(index) };
    }
  }
}
