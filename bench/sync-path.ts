import { PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal } from '../src/extract/dynamodb-local.js';
import { loadLegacyTables, openLocalDynamoDbClient } from '../src/seed/load-dynamodb.js';
import { planLegacyData } from '../src/seed/generate.js';
import { DATA_ENTITIES, LEGACY_ENTITIES, defaultTableNames } from '../src/model/entities.js';
import { withClient, type BenchDatabases } from './postgres.js';
import { runCliOk } from './processes.js';

export interface SyncFigures {
  /** Putting the data set into DynamoDB Local (items, seconds): not the tool's time, reported to show where the part's time goes. */
  load: { items: number; seconds: number };
  /** The full run of the tables (items read, seconds). */
  run: { items: number; seconds: number };
  /** The first sync: the source image read whole, and the stream replayed from before the run (the load's own writes). */
  firstSync: { changes: number; seconds: number };
  /** A sync of `changes` fact updates written after the first: the steady rate of applying changes. */
  sync: { changes: number; seconds: number };
  /** Writing the fact updates into DynamoDB Local (not the tool's time). */
  updates: { items: number; seconds: number };
}

/**
 * DynamoDB Local with streams holding `items` facts: a full run, a first sync (image and replay),
 * then every `1/every`th fact rewritten and `sync --until-caught-up` timed: changes applied per
 * second next to the full run's items per second.
 */
export async function measureSync(items: number, heapMb: number, databases: BenchDatabases, every = 10): Promise<SyncFigures> {
  const local = await startDynamoDbLocal({ heapMb });
  const client = openLocalDynamoDbClient(local.endpoint);
  const databaseUrl = await databases.create('sync');
  try {
    const tableNames = defaultTableNames();
    const plan = planLegacyData({ items, seed: 1 });
    const loadStarted = performance.now();
    const loaded = await loadLegacyTables(client, LEGACY_ENTITIES.map((entity) => ({ table: tableNames[entity], items: plan.tableItems(entity) })), { concurrency: 8, stream: 'NEW_AND_OLD_IMAGES' });
    const load = { items: Object.values(loaded).reduce((sum, n) => sum + n, 0), seconds: (performance.now() - loadStarted) / 1000 };
    const source = ['--source', 'dynamodb', '--dynamodb-endpoint', local.endpoint, '--region', 'local', '--database-url', databaseUrl];
    const run = await runCliOk('sync bench: run', ['run', '--no-validate', '--run', 'bench-sync', ...source]);
    const changesRead = async (): Promise<number> =>
      withClient(databaseUrl, async (sql) => {
        const { rows } = await sql.query<{ n: string }>(`select coalesce(sum(c.read), 0)::text as n from kpi_migrate.run_counts c join kpi_migrate.runs r on r.id = c.run_id where r.sync_of is not null`);
        return Number(rows[0]?.n ?? 0);
      });
    const runItems = await withClient(databaseUrl, async (sql) => {
      const { rows } = await sql.query<{ n: string }>(`select coalesce(sum(read), 0)::text as n from kpi_migrate.run_counts c join kpi_migrate.runs r on r.id = c.run_id where r.sync_of is null`);
      return Number(rows[0]?.n ?? 0);
    });
    const first = await runCliOk('sync bench: first sync', ['sync', '--run', 'bench-sync', '--until-caught-up', ...source]);
    const afterFirst = await changesRead();
    let written = 0;
    const updatesStarted = performance.now();
    for (const entity of DATA_ENTITIES) {
      let at = 0;
      for (const item of plan.tableItems(entity)) {
        if (at++ % every !== 0) continue;
        const changed: Record<string, AttributeValue> = { ...item, BenchRevision: { N: String(at) } };
        await client.send(new PutItemCommand({ TableName: tableNames[entity], Item: changed }));
        written += 1;
      }
    }
    const updates = { items: written, seconds: (performance.now() - updatesStarted) / 1000 };
    const sync = await runCliOk('sync bench: sync of the updates', ['sync', '--run', 'bench-sync', '--until-caught-up', ...source]);
    const changes = (await changesRead()) - afterFirst;
    if (changes < written) throw new Error(`the sync read ${changes} changes, ${written} were written`);
    return { load, updates, run: { items: runItems, seconds: run.seconds }, firstSync: { changes: afterFirst, seconds: first.seconds }, sync: { changes, seconds: sync.seconds } };
  } finally {
    await databases.drop(databaseUrl);
    client.destroy();
    await local.stop();
  }
}
