import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resolveConfig, type ResolvedConfig } from '../../src/config/resolve.js';
import { MigrateError } from '../../src/errors.js';
import type { LegacySource } from '../../src/extract/index.js';
import { migrateInThisThread } from '../../src/pipeline/migrate-in-this-thread.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { loadFixturesIntoDynamoDb } from '../support/dynamodb-fixtures.js';

/** Every source migrate() opened, whether it was closed, and whether the next open is to fail. */
const opened: { extras: unknown; closed: boolean }[] = [];
const fault = { failOpening: 0 };

// Fault injection: the n-th source opened fails to open (e.g. DynamoDB unreachable by then).
vi.mock('../../src/reading/open-source.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/reading/open-source.js')>();
  return {
    ...real,
    async openConfiguredSource(config: ResolvedConfig, extras?: Parameters<typeof real.openConfiguredSource>[1]): Promise<LegacySource> {
      if (fault.failOpening === opened.length + 1) {
        opened.push({ extras, closed: false });
        throw new MigrateError('SOURCE_UNAVAILABLE', 'injected: the lookup source cannot be opened');
      }
      const source = await real.openConfiguredSource(config, extras);
      const record = { extras, closed: false };
      opened.push(record);
      return {
        ...source,
        async close() {
          record.closed = true;
          await source.close();
        },
      };
    },
  };
});

describe('migrate() closes what it opened when opening the next thing fails', () => {
  let db: TestDatabase;
  let config: ResolvedConfig;

  beforeAll(async () => {
    db = await createTestDatabase();
    const { endpoint, prefix } = await loadFixturesIntoDynamoDb();
    config = resolveConfig({
      env: {},
      overrides: { source: 'dynamodb', dynamodbEndpoint: endpoint, region: 'local', tablePrefix: prefix, segments: 4, pageLimit: 10, databaseUrl: db.url, batchRows: 60 },
    });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('a worker whose lookup source fails to open closes its share’s source, and says why it stopped', async () => {
    opened.length = 0;
    fault.failOpening = 2;
    const outcome = migrateInThisThread(config, { worker: { index: 1, count: 1 }, run: 'lookup-open-fails' }, { transformInWorker: false });
    await expect(outcome).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE', message: 'injected: the lookup source cannot be opened' });
    expect(opened).toEqual([
      { extras: { worker: { index: 1, count: 1 } }, closed: true },
      { extras: undefined, closed: false },
    ]);
  });

  it('without the fault the same worker opens both, runs its share, and closes both', async () => {
    opened.length = 0;
    fault.failOpening = 0;
    const result = await migrateInThisThread(config, { worker: { index: 1, count: 1 }, run: 'lookup-open-works' }, { transformInWorker: false });
    expect(result.unbalanced).toEqual([]);
    expect(opened).toEqual([
      { extras: { worker: { index: 1, count: 1 } }, closed: true },
      { extras: undefined, closed: true },
    ]);
  });
});
