import { afterAll, describe, expect, it } from 'vitest';
import { createDynamoDbSource } from '../../src/extract/dynamodb-source.js';
import { defaultTableNames, MIGRATED_ENTITIES } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { loadFixturesIntoDynamoDb } from '../support/dynamodb-fixtures.js';
import { expectedOutcome } from '../support/fixtures.js';
import { checkNamed, expectClean, failedChecks, migrate, validate } from './harness.js';

const expected = expectedOutcome();

describe('validate against DynamoDB Local: Select COUNT recounts, BatchGetItem samples', () => {
  let db: TestDatabase | undefined;
  afterAll(async () => {
    await db?.drop();
  });

  it('passes after a migration from DynamoDB, and names a value changed in the target afterwards', async () => {
    const { endpoint, prefix } = await loadFixturesIntoDynamoDb();
    const source = createDynamoDbSource({
      endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      tableNames: defaultTableNames(prefix),
      segments: 3,
      pageLimit: 40,
    });
    db = await createTestDatabase();
    try {
      await migrate(db.sql, source);
      const everyRecord = MIGRATED_ENTITIES.reduce((sum, entity) => sum + expected.tables[entity].read, 0);
      const clean = await validate(db.sql, source, { sample: 10_000, full: true });
      expectClean(clean);
      for (const entity of MIGRATED_ENTITIES) expect(checkNamed(clean, 'accounting', entity).evidence.source).toBe(expected.tables[entity].read);
      expect(checkNamed(clean, 'samples').evidence).toMatchObject({ sampled: everyRecord });

      const { rows } = await db.sql.query<{ id: string; source_id: string; label: string | null }>(
        `update kpi_data set label = 'changed after the run' where id = (select id from kpi_data where source_entity = 'KpiMilestone' order by id limit 1)
         returning id::text as id, source_id, label`,
      );
      const changed = rows[0]!;
      const report = await validate(db.sql, source, { sample: 10_000 });
      expect(failedChecks(report)).toEqual(['samples']);
      expect(checkNamed(report, 'samples').differences).toEqual([
        expect.objectContaining({ kind: 'changed_value', id: changed.id, entity: 'KpiMilestone', sourceId: changed.source_id, column: 'label', found: 'changed after the run' }),
      ]);
    } finally {
      await source.close();
    }
  });
});
