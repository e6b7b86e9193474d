import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal } from '../src/extract/dynamodb-local.js';
import { enableStreams, loadLegacyTables, openLocalDynamoDbClient, putItems } from '../src/seed/load-dynamodb.js';
import { planLegacyData, type LegacyDataPlan } from '../src/seed/generate.js';
import { DATA_ENTITIES, LEGACY_ENTITIES, defaultTableNames, type DataEntity } from '../src/model/entities.js';
import { withClient, type BenchDatabases } from './postgres.js';
import { runCliOk } from './processes.js';

export interface SyncFigures {
  /** Putting the data set into DynamoDB Local (items, seconds): not the tool's time, reported to show where the part's time goes. */
  load: { items: number; seconds: number };
  /** The full run of the tables (items read, seconds). */
  run: { items: number; seconds: number };
  /**
   * The first sync: the source image read whole (`imageItems` records), and the streams drained
   * (`changes`: what was written after the streams were enabled and before it; 0 here).
   */
  firstSync: { changes: number; imageItems: number; seconds: number };
  /** A sync of `changes` fact updates written after the first (`rowsUpdated` target rows): the steady rate of applying changes. */
  sync: { changes: number; rowsUpdated: number; seconds: number };
  /** Writing the fact updates into DynamoDB Local (not the tool's time). */
  updates: { items: number; seconds: number };
}

/**
 * DynamoDB Local holding `items` facts, loaded and then given streams (the runbook's order: the
 * operator enables the streams on tables that hold their data; loading through a stream is
 * quadratic in DynamoDB Local, see `StreamView`): a full run, a first sync (the image read, the
 * streams drained), then every `1/every`th fact rewritten and `sync --until-caught-up` timed:
 * changes applied per second next to the full run's items per second.
 */
export async function measureSync(items: number, heapMb: number, databases: BenchDatabases, every = 10): Promise<SyncFigures> {
  const local = await startDynamoDbLocal({ heapMb });
  const client = openLocalDynamoDbClient(local.endpoint);
  const databaseUrl = await databases.create('sync');
  try {
    const tableNames = defaultTableNames();
    const plan = planLegacyData({ items, seed: 1 });
    const loadStarted = performance.now();
    const loaded = await loadLegacyTables(client, LEGACY_ENTITIES.map((entity) => ({ table: tableNames[entity], items: plan.tableItems(entity) })), { concurrency: 8 });
    await enableStreams(
      client,
      LEGACY_ENTITIES.map((entity) => tableNames[entity]),
      'NEW_AND_OLD_IMAGES',
    );
    const load = { items: Object.values(loaded).reduce((sum, n) => sum + n, 0), seconds: (performance.now() - loadStarted) / 1000 };

    const source = ['--source', 'dynamodb', '--dynamodb-endpoint', local.endpoint, '--region', 'local', '--database-url', databaseUrl];
    const run = await runCliOk('sync bench: run', ['run', '--no-validate', '--run', 'bench-sync', ...source]);
    // What every sync of the run so far read (changes) and updated (target rows), from the ledger.
    const syncCounts = async (): Promise<{ changes: number; rowsUpdated: number }> =>
      withClient(databaseUrl, async (sql) => {
        const { rows } = await sql.query<{ changes: string; updated: string }>(
          `select coalesce(sum(c.read), 0)::text as changes, coalesce(sum(c.updated), 0)::text as updated
             from kpi_migrate.run_counts c join kpi_migrate.runs r on r.id = c.run_id where r.sync_of is not null`,
        );
        return { changes: Number(rows[0]?.changes ?? 0), rowsUpdated: Number(rows[0]?.updated ?? 0) };
      });
    const runItems = await withClient(databaseUrl, async (sql) => {
      const { rows } = await sql.query<{ n: string }>(`select coalesce(sum(read), 0)::text as n from kpi_migrate.run_counts c join kpi_migrate.runs r on r.id = c.run_id where r.sync_of is null`);
      return Number(rows[0]?.n ?? 0);
    });
    const first = await runCliOk('sync bench: first sync', ['sync', '--run', 'bench-sync', '--until-caught-up', ...source]);
    const afterFirst = await syncCounts();
    const imageItems = await withClient(databaseUrl, async (sql) => {
      const { rows } = await sql.query<{ n: string }>(`select count(*)::text as n from kpi_migrate.source_image`);
      return Number(rows[0]?.n ?? 0);
    });

    const updatesStarted = performance.now();
    let written = 0;
    for (const entity of DATA_ENTITIES) written += await putItems(client, tableNames[entity], revisedFacts(plan, entity, every), { concurrency: 8 });
    const updates = { items: written, seconds: (performance.now() - updatesStarted) / 1000 };

    const sync = await runCliOk('sync bench: sync of the updates', ['sync', '--run', 'bench-sync', '--until-caught-up', ...source]);
    const afterSync = await syncCounts();
    const changes = afterSync.changes - afterFirst.changes;
    if (changes < written) throw new Error(`the sync read ${changes} changes, ${written} were written`);
    return {
      load,
      run: { items: runItems, seconds: run.seconds },
      firstSync: { changes: afterFirst.changes, imageItems, seconds: first.seconds },
      sync: { changes, rowsUpdated: afterSync.rowsUpdated - afterFirst.rowsUpdated, seconds: sync.seconds },
      updates,
    };
  } finally {
    await databases.drop(databaseUrl);
    client.destroy();
    await local.stop();
  }
}

/** Every `every`th fact of the table with one attribute added (which its rows keep in `legacy_extra`). */
function* revisedFacts(plan: LegacyDataPlan, entity: DataEntity, every: number): Generator<Record<string, AttributeValue>> {
  let at = 0;
  for (const item of plan.tableItems(entity)) {
    if (at++ % every !== 0) continue;
    yield { ...item, BenchRevision: { N: String(at) } };
  }
}
