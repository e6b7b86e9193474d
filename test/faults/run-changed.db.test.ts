import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor } from '../../src/cli/exit.js';
import { MigrateError } from '../../src/errors.js';
import { createExportSource } from '../../src/extract/export-source.js';
import type { LegacySource } from '../../src/model/source.js';
import { runMigration } from '../../src/pipeline/run.js';
import { defaultTableNames } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { SMALL_FIXTURES } from '../support/fixtures.js';
import path from 'node:path';
import { runStatus } from './harness.js';

const request = (db: TestDatabase, source: LegacySource, resume?: string) => ({
  source,
  sql: db.sql,
  targetSchema: 'public',
  environment: 'test',
  batchRows: 50,
  ledgerOptions: {},
  codeVersion: 'test',
  configHash: 'test',
  ...(resume === undefined ? {} : { resume }),
});

describe('a run changed by another process while it runs', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('stops with exit 3 (RUN_CHANGED), since the same command may succeed; resuming that run is then exit 2', async () => {
    const fixtures = createExportSource({ dir: path.join(SMALL_FIXTURES, 'export'), tableNames: defaultTableNames() });
    let rolledBack: string | undefined;
    // Another process (an operator's rollback) marks the run rolled back once its links are loaded.
    // The wrapper reads through readTable only: it does not pass on the fixtures' typed pages.
    const { readTypedTable: _typedPages, ...plainFixtures } = fixtures;
    const source: LegacySource = {
      ...plainFixtures,
      async *readTable(entity, from) {
        if (entity === 'KpiMilestone' && rolledBack === undefined) {
          const { rows } = await db.sql.query<{ id: string }>(
            `update kpi_migrate.runs set status = 'rolled_back', finished_at = now() where status = 'running' returning id::text as id`,
          );
          rolledBack = rows[0]?.id;
        }
        yield* fixtures.readTable(entity, from);
      },
    };
    const failure = await runMigration(request(db, source)).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(rolledBack).toBeDefined();
    expect(failure).toBeInstanceOf(MigrateError);
    expect(failure).toMatchObject({ code: 'RUN_CHANGED', message: `run ${rolledBack} is rolled_back: it takes no more batches` });
    expect(exitCodeFor(failure)).toBe(EXIT.runtime);
    expect(await runStatus(db.sql, rolledBack!)).toBe('rolled_back');

    // The same command names that run now: it is refused before anything is done, and always will be.
    const resumed = await runMigration(request(db, fixtures, rolledBack)).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(resumed).toMatchObject({ code: 'RUN_STATE', message: `run ${rolledBack} is rolled_back: it cannot be resumed` });
    expect(exitCodeFor(resumed)).toBe(EXIT.usage);
  });
});
