import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal, type DynamoDbLocal } from '../src/extract/dynamodb-local.js';
import { loadLegacyTables, openLocalDynamoDbClient } from '../src/seed/load-dynamodb.js';
import { planLegacyData } from '../src/seed/generate.js';
import { LEGACY_ENTITIES, defaultTableNames, type TableNames } from '../src/model/entities.js';
import { withClient, type BenchDatabases } from './postgres.js';
import { runCliOk } from './processes.js';

export interface DynamoDbSetup {
  local: DynamoDbLocal;
  client: DynamoDBClient;
  tableNames: TableNames;
  items: number;
  loadSeconds: number;
}

/** DynamoDB Local (explicit heap) holding a generated data set of `items` fact records. */
export async function startLoadedDynamoDb(items: number, heapMb: number): Promise<DynamoDbSetup> {
  const local = await startDynamoDbLocal({ heapMb });
  const client = openLocalDynamoDbClient(local.endpoint);
  try {
    const tableNames = defaultTableNames();
    const plan = planLegacyData({ items, seed: 1 });
    const started = performance.now();
    const written = await loadLegacyTables(
      client,
      LEGACY_ENTITIES.map((entity) => ({ table: tableNames[entity], items: plan.tableItems(entity) })),
      { concurrency: 8 },
    );
    const loadSeconds = (performance.now() - started) / 1000;
    return { local, client, tableNames, items: Object.values(written).reduce((sum, n) => sum + n, 0), loadSeconds };
  } catch (error) {
    client.destroy();
    await local.stop();
    throw error;
  }
}

export async function stopDynamoDb(setup: DynamoDbSetup): Promise<void> {
  setup.client.destroy();
  await setup.local.stop();
}

/**
 * What the tables give at best: every table, in the order a run reads them, scanned in
 * `segments` parallel segments of `pageLimit` items a page, items counted and dropped. Its CPU
 * is this process's over the scan (the SDK's requests and deserialization; the bench does
 * nothing else meanwhile), beside the run's whole-process CPU: on a shared machine the CPU an
 * item costs is steadier than the wall time.
 */
export async function measureRawScan(setup: DynamoDbSetup, segments: number, pageLimit: number): Promise<{ seconds: number; items: number; cpuSeconds: number }> {
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  let items = 0;
  for (const entity of LEGACY_ENTITIES) {
    const table = setup.tableNames[entity];
    const counts = await Promise.all(
      Array.from({ length: segments }, async (_, segment) => {
        let count = 0;
        let startKey: Record<string, AttributeValue> | undefined;
        do {
          const page = await setup.client.send(
            new ScanCommand({
              TableName: table,
              Limit: pageLimit,
              ...(segments > 1 ? { Segment: segment, TotalSegments: segments } : {}),
              ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
            }),
          );
          count += page.Items?.length ?? 0;
          startKey = page.LastEvaluatedKey !== undefined && Object.keys(page.LastEvaluatedKey).length > 0 ? page.LastEvaluatedKey : undefined;
        } while (startKey !== undefined);
        return count;
      }),
    );
    items += counts.reduce((sum, n) => sum + n, 0);
  }
  const cpu = process.cpuUsage(cpuAtStart);
  return { seconds: (performance.now() - started) / 1000, items, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** `kpi-migrate run --source dynamodb` with the same segments and page size, into a fresh database. */
export async function measureDynamoDbRun(
  setup: DynamoDbSetup,
  databases: BenchDatabases,
  segments: number,
  pageLimit: number,
): Promise<{ seconds: number; items: number; peakRssBytes: number; cpuSeconds: number }> {
  const databaseUrl = await databases.create('dynamodb');
  try {
    // Against the raw Scan, the run alone: reading, mapping and loading, without its closing validation.
    const args = ['run', '--no-validate', '--source', 'dynamodb', '--dynamodb-endpoint', setup.local.endpoint, '--region', 'local'];
    const figures = await runCliOk('dynamodb run', [...args, '--segments', String(segments), '--page-limit', String(pageLimit), '--database-url', databaseUrl]);
    const items = await withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{ read: string }>('select coalesce(sum(read), 0)::text as read from kpi_migrate.run_counts');
      return Number(rows[0]?.read ?? 0);
    });
    return { seconds: figures.seconds, items, peakRssBytes: figures.peakRssBytes, cpuSeconds: figures.cpuSeconds };
  } finally {
    await databases.drop(databaseUrl);
  }
}
