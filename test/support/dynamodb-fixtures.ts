import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { inject } from 'vitest';
import { loadLegacyTables, openLocalDynamoDbClient, readScanDump } from '../../src/seed/load-dynamodb.js';
import { LEGACY_ENTITIES, defaultTableNames } from '../../src/model/entities.js';
import { SMALL_FIXTURES } from './fixtures.js';

/** Loads the committed fixtures' scan dumps into DynamoDB Local under a fresh table prefix. */
export async function loadFixturesIntoDynamoDb(scanDir = path.join(SMALL_FIXTURES, 'scan')): Promise<{ endpoint: string; prefix: string }> {
  const endpoint = inject('dynamoDbEndpoint');
  const prefix = `t${randomBytes(4).toString('hex')}-`;
  const fixtureNames = defaultTableNames();
  const names = defaultTableNames(prefix);
  const client = openLocalDynamoDbClient(endpoint);
  try {
    await loadLegacyTables(
      client,
      LEGACY_ENTITIES.map((entity) => ({ table: names[entity], items: readScanDump(path.join(scanDir, `${fixtureNames[entity]}.json`)) })),
    );
  } finally {
    client.destroy();
  }
  return { endpoint, prefix };
}
