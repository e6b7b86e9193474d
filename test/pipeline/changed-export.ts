import path from 'node:path';
import { createExportSource } from '../../src/extract/export-source.js';
import { writeDynamoDbExport } from '../../src/extract/export-writer.js';
import { runMigration, type RunRequest, type RunResult } from '../../src/pipeline/run.js';
import type { SqlSession } from '../../src/db/sql-client.js';
import { LEGACY_ENTITIES, defaultTableNames, type LegacyEntity } from '../../src/model/entities.js';
import { LegacyNumber, type LegacyItem } from '../../src/model/legacy-value.js';
import { toAttributeMap } from '../../src/extract/dynamodb-json.js';
import type { TestDatabase } from '../support/database.js';
import { SMALL_FIXTURES } from '../support/fixtures.js';

export const FIXTURE_EXPORT = path.join(SMALL_FIXTURES, 'export');
export const TABLE_NAMES = defaultTableNames();

export type LegacyTables = Record<LegacyEntity, LegacyItem[]>;

/** Migrates an export directory into the test database (the runner, as `run` calls it). */
export async function migrateExport(db: TestDatabase, dir: string, extra: Partial<RunRequest> = {}): Promise<RunResult> {
  const source = createExportSource({ dir, tableNames: TABLE_NAMES });
  try {
    return await runMigration({
      source,
      sql: db.sql,
      targetSchema: 'public',
      environment: 'test',
      batchRows: 150,
      ledgerOptions: {},
      codeVersion: 'test',
      configHash: 'test',
      ...extra,
    });
  } finally {
    await source.close();
  }
}

export async function readExport(dir: string): Promise<LegacyTables> {
  const source = createExportSource({ dir, tableNames: TABLE_NAMES });
  const tables = {} as LegacyTables;
  for (const entity of LEGACY_ENTITIES) {
    tables[entity] = [];
    for await (const page of source.readTable(entity)) tables[entity].push(...page.items);
  }
  return tables;
}

/** Flat export files of these tables, as a second extract of the legacy store would give them. */
export async function writeExport(dir: string, tables: LegacyTables): Promise<void> {
  await writeDynamoDbExport(
    dir,
    LEGACY_ENTITIES.map((entity) => ({ table: TABLE_NAMES[entity], items: tables[entity].map(toAttributeMap), layout: 'flat' as const })),
    { exportTime: new Date('2024-02-01T00:00:00Z') },
  );
}

export const NEW_LINK_ID = 'eeeeeeee-0000-4000-8000-000000000001';
export const NEW_ACTUAL_ID = 'eeeeeeee-0000-4000-8000-000000000002';
export const CHANGED_VALUE = '98765432109876543210.123456789012345678';
export const CHANGED_WEIGHT = '2.25';

export interface SourceChanges {
  /** A link gone from the source: the kpi_data rows its KPI's records fanned out to it go. */
  droppedLink: string;
  /** A link whose Weight changed. */
  reweightedLink: string;
  /** Actuals whose ActualValue changed. */
  revaluedActuals: string[];
  /** A new link, copied from this one onto the same KPI. */
  newLinkFrom: string;
  /** A new actual, copied from this one. */
  newActualFrom: string;
}

/**
 * Picks what to change among records the first run migrated (so that each change reaches the
 * target): the target rows after that run say which records those are.
 */
export async function chooseChanges(sql: SqlSession): Promise<SourceChanges> {
  const { rows: links } = await sql.query<{ source_id: string; kpi: string; links_of_kpi: number }>(
    `select l.source_id, l.tenant_id::text || '/' || l.kpi_id::text as kpi,
       (select count(*) from public.kpi_links o where o.tenant_id = l.tenant_id and o.kpi_id = l.kpi_id)::int as links_of_kpi
     from public.kpi_links l where exists (select 1 from public.kpi_data d where d.kpi_link_id = l.id)
     order by l.source_id`,
  );
  const dropped = links.find((l) => l.links_of_kpi >= 2)!;
  const reweighted = links.find((l) => l.kpi !== dropped.kpi)!;
  const copied = links.find((l) => l.kpi !== dropped.kpi && l.kpi !== reweighted.kpi)!;
  const { rows: actuals } = await sql.query<{ source_id: string }>(
    `select distinct source_id from public.kpi_data where source_entity = 'KpiActual' order by source_id limit 4`,
  );
  return {
    droppedLink: dropped.source_id,
    reweightedLink: reweighted.source_id,
    revaluedActuals: actuals.slice(0, 3).map((a) => a.source_id),
    newLinkFrom: copied.source_id,
    newActualFrom: actuals[3]!.source_id,
  };
}

export function applyChanges(tables: LegacyTables, changes: SourceChanges): LegacyTables {
  const byId = (entity: LegacyEntity, id: string): LegacyItem => {
    const item = tables[entity].find((i) => i.Id === id);
    if (item === undefined) throw new Error(`${entity} ${id} is not in the source`);
    return item;
  };
  const links = tables.GoalKpiLink.filter((i) => i.Id !== changes.droppedLink).map((i) =>
    i.Id === changes.reweightedLink ? { ...i, Weight: new LegacyNumber(CHANGED_WEIGHT) } : i,
  );
  links.push({ ...byId('GoalKpiLink', changes.newLinkFrom), Id: NEW_LINK_ID, GoalId: 'eeeeeeee-0000-4000-8000-0000000000aa', IsPrimary: true });
  const actuals = tables.KpiActual.map((i) =>
    typeof i.Id === 'string' && changes.revaluedActuals.includes(i.Id) ? { ...i, ActualValue: new LegacyNumber(CHANGED_VALUE) } : i,
  );
  actuals.push({ ...byId('KpiActual', changes.newActualFrom), Id: NEW_ACTUAL_ID });
  return { ...tables, GoalKpiLink: links, KpiActual: actuals };
}
