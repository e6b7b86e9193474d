import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hashSeed, mulberry32 } from '../../src/seed/prng.js';
import { LEGACY_ENTITIES, type TableNames } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { expectBalanced, snapshot, type TargetSnapshot } from './harness.js';
import { guardReadOnly, injectFaults, loadSeededTables, localClient, migrateFromDynamoDb, type InjectedFault } from './dynamodb-faults.js';

describe('DynamoDB throttling and transient 5xx during a whole migration from DynamoDB Local', () => {
  const databases: TestDatabase[] = [];
  let tableNames: TableNames;
  let reference: TargetSnapshot;

  beforeAll(async () => {
    ({ tableNames } = await loadSeededTables(inject('dynamoDbEndpoint'), { items: 600, seed: 31 }));
    const db = await createTestDatabase();
    databases.push(db);
    const client = localClient(inject('dynamoDbEndpoint'));
    try {
      const clean = await migrateFromDynamoDb(db.sql, client, tableNames);
      expect(clean.result.status).toBe('completed');
      expect(clean.source.stats().throttles).toBe(0);
      reference = await snapshot(db.sql, clean.result.runId);
    } finally {
      client.destroy();
    }
  });

  afterAll(async () => {
    for (const db of databases) await db.drop();
  });

  it('every third request on average refused (throttles, 500, 503): nothing lost, same rows and accounting, throttles counted', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const client = localClient(inject('dynamoDbEndpoint'));
    const guard = guardReadOnly(client);
    const rng = mulberry32(hashSeed('dynamodb-faults', 1));
    const kinds: InjectedFault[] = ['throughputExceeded', 'throttling', 'internalServerError', 'serviceUnavailable'];
    let consecutive = 0;
    const injected = injectFaults(client, () => {
      // A few refusals in a row now and then, as a throttled table really answers.
      if (rng.chance(consecutive > 0 ? 0.5 : 0.33) && consecutive < 4) {
        consecutive += 1;
        return rng.pick(kinds);
      }
      consecutive = 0;
      return undefined;
    });
    try {
      const faulty = await migrateFromDynamoDb(db.sql, client, tableNames);
      const stats = faulty.source.stats();
      const totalInjected = Object.values(injected).reduce((a, b) => a + b, 0);
      console.info(
        `DynamoDB faults injected: ${JSON.stringify(injected)} (${totalInjected} in all) over ${stats.pages} pages; ` +
          `source stats: throttles ${stats.throttles}, retries ${stats.retries}; warnings logged: ${faulty.warnings.length}`,
      );
      for (const kind of kinds) expect(injected[kind], `${kind} injected`).toBeGreaterThan(0);
      expect(stats.throttles).toBe(injected.throughputExceeded + injected.throttling);
      expect(stats.retries).toBe(totalInjected);
      // How an operator sees the slowdown: the source warns through its logger (progress figures carry no throttle count).
      expect(faulty.warnings.some((w) => /throttling/.test(w))).toBe(true);
      expect(new Set(faulty.progress.filter((p) => p.done).map((p) => p.entity))).toEqual(new Set(LEGACY_ENTITIES));

      expect(faulty.result.status).toBe('completed');
      const after = await snapshot(db.sql, faulty.result.runId);
      expectBalanced(after.accounting);
      expect(after.accounting).toEqual(reference.accounting);
      expect(after.rejects).toEqual(reference.rejects);
      expect(after.rows).toEqual(reference.rows);
      expect(guard.refused).toEqual([]);
    } finally {
      client.destroy();
    }
  });
});
