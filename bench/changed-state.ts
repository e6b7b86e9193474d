import { createExportSource } from '../src/extract/export-source.js';
import { writeDynamoDbExport, type AttributeMap } from '../src/extract/export-writer.js';
import { LEGACY_ENTITIES, defaultTableNames, type LegacyEntity } from '../src/model/entities.js';
import type { LegacyItem } from '../src/model/legacy-value.js';
import { toAttributeMap } from '../src/extract/dynamodb-json.js';

const NEW_OWNER = 'eeeeeeee-0000-4000-8000-00000000be11';

/**
 * State B of the converge bench: state A with 1% of the records of every table changed, as a
 * legacy service would change them between two backups: 1 in 200 deleted, 1 in 200 edited (a
 * link's IsPrimary flipped, a KPI's owner changed, a fact's attribute added). Streamed, table by table.
 */
export async function writeChangedExport(fromDir: string, outDir: string): Promise<{ records: number; changed: number }> {
  const tableNames = defaultTableNames();
  const source = createExportSource({ dir: fromDir, tableNames });
  let records = 0;
  let changed = 0;
  async function* changedItems(entity: LegacyEntity): AsyncIterable<AttributeMap> {
    let at = 0;
    for await (const page of source.readTable(entity)) {
      for (const item of page.items) {
        records += 1;
        const next = changedItem(entity, item, at++);
        if (next !== item) changed += 1;
        if (next !== undefined) yield toAttributeMap(next);
      }
    }
  }
  try {
    await writeDynamoDbExport(
      outDir,
      LEGACY_ENTITIES.map((entity) => ({ table: tableNames[entity], items: changedItems(entity), layout: 'flat' as const })),
    );
  } finally {
    await source.close();
  }
  return { records, changed };
}

/** The record at `at` of its table in state B: 1 in 200 deleted (undefined), 1 in 200 edited, the others as they were. */
export function changedItem(entity: LegacyEntity, item: LegacyItem, at: number): LegacyItem | undefined {
  const slot = at % 200;
  if (slot === 0 && entity !== 'Person') return undefined;
  return slot === 100 ? edit(entity, item) : item;
}

function edit(entity: LegacyEntity, item: LegacyItem): LegacyItem {
  switch (entity) {
    case 'Kpi':
      return { ...item, OwnerId: NEW_OWNER };
    case 'Person':
      return item;
    case 'GoalKpiLink':
      return { ...item, IsPrimary: item.IsPrimary !== true };
    default:
      return { ...item, ConvergeBenchEdit: 'edited after the first backup' };
  }
}
