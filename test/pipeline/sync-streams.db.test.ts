import { randomBytes } from 'node:crypto';
import { DeleteItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { SqlSession } from '../../src/db/sql-client.js';
import { LEGACY_ENTITIES, defaultTableNames, type LegacyEntity } from '../../src/model/entities.js';
import { deriveChangedState, planLegacyData, type AttributeMap } from '../../src/seed/index.js';
import { loadLegacyTables, openLocalDynamoDbClient } from '../../src/seed/load-dynamodb.js';
import { hashSeed, mulberry32, type Rng } from '../../src/seed/prng.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { describeOutcome, runCli, startCli, type CliOutcome } from '../support/child-cli.js';
import { expectSameTarget, failedValidationChecks, rejectKeysOf, targetOf } from './converge-support.js';

/**
 * Contract §5 with DynamoDB Streams: a writer changes all six tables while the full run reads
 * and between syncs; once it stops and `sync --until-caught-up` returns, the target is what a
 * fresh run of the tables' final state writes, row for row and reject for reject.
 */

type Operation = { entity: LegacyEntity; put: AttributeMap } | { entity: LegacyEntity; remove: string };

const idOf = (item: AttributeMap): string => (item.Id as { S: string }).S;

/** What turns state A into state B, one write per record, in a seeded order. */
function operationsFromAToB(a: Record<LegacyEntity, AttributeMap[]>, b: Record<LegacyEntity, AttributeMap[]>, rng: Rng): Operation[] {
  const operations: Operation[] = [];
  for (const entity of LEGACY_ENTITIES) {
    const before = new Map(a[entity].map((item) => [idOf(item), JSON.stringify(item)]));
    const after = new Map(b[entity].map((item) => [idOf(item), item]));
    for (const [id, item] of after) if (before.get(id) !== JSON.stringify(item)) operations.push({ entity, put: item });
    for (const id of before.keys()) if (!after.has(id)) operations.push({ entity, remove: id });
  }
  // Fisher–Yates with the seeded generator: the order of writes across tables is part of the test.
  for (let i = operations.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [operations[i], operations[j]] = [operations[j]!, operations[i]!];
  }
  return operations;
}

/** A record rewritten on the way (an intermediate state that a later write replaces): the stream carries both. */
function withDetours(operations: readonly Operation[], a: Record<LegacyEntity, AttributeMap[]>): Operation[] {
  const out: Operation[] = [];
  operations.forEach((operation, at) => {
    if (at % 7 === 0 && 'put' in operation) out.push({ entity: operation.entity, put: { ...operation.put, Detour: { S: `intermediate ${at}` } } });
    if (at % 11 === 0 && 'remove' in operation) {
      const original = a[operation.entity].find((item) => idOf(item) === operation.remove);
      if (original !== undefined) out.push({ entity: operation.entity, put: { ...original, Detour: { S: `touched before its delete ${at}` } } });
    }
    out.push(operation);
  });
  return out;
}

async function write(client: DynamoDBClient, tables: Record<LegacyEntity, string>, operations: readonly Operation[], pauseMs = 0): Promise<void> {
  for (const operation of operations) {
    const table = tables[operation.entity];
    if ('put' in operation) await client.send(new PutItemCommand({ TableName: table, Item: operation.put }));
    else await client.send(new DeleteItemCommand({ TableName: table, Key: { Id: { S: operation.remove } } }));
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/** The changes a sync reports it read (its summary's first figure). */
function appliedChanges(stdout: string): number {
  const match = /sync: (\d+) change\(s\)/.exec(stdout);
  if (match === null) throw new Error(`no sync summary in: ${stdout}`);
  return Number(match[1]);
}

function expectExit(outcome: CliOutcome, code: number, what: string): void {
  expect(outcome.code, `${what}: ${describeOutcome(outcome)}`).toBe(code);
}

async function baseRunOf(sql: SqlSession): Promise<string> {
  const { rows } = await sql.query<{ id: string }>(`select min(id)::text as id from kpi_migrate.runs where sync_of is null`);
  return rows[0]!.id;
}

describe('sync from DynamoDB Streams converges to a fresh run of the final state (contract §5)', () => {
  const endpoint = inject('dynamoDbEndpoint');
  const plan = planLegacyData({ items: 500, seed: 14 });
  const stateA = Object.fromEntries(LEGACY_ENTITIES.map((entity) => [entity, [...plan.tableItems(entity)]])) as Record<LegacyEntity, AttributeMap[]>;
  const changed = deriveChangedState(plan, { seed: 14 });
  const cleanups: (() => Promise<void>)[] = [];
  let client: DynamoDBClient;

  beforeAll(() => {
    client = openLocalDynamoDbClient(endpoint);
    cleanups.push(async () => client.destroy());
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function seededTables(): Promise<{ prefix: string; names: Record<LegacyEntity, string> }> {
    const prefix = `s${randomBytes(4).toString('hex')}-`;
    const names = defaultTableNames(prefix);
    await loadLegacyTables(
      client,
      LEGACY_ENTITIES.map((entity) => ({ table: names[entity], items: stateA[entity] })),
      { stream: 'NEW_AND_OLD_IMAGES' },
    );
    return { prefix, names };
  }

  async function database(): Promise<TestDatabase> {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    return db;
  }

  const sourceArgs = (prefix: string, url: string): string[] => ['--source', 'dynamodb', '--dynamodb-endpoint', endpoint, '--table-prefix', prefix, '--database-url', url];

  /** A fresh run of the tables as they are now, into a database of its own: what the synced target must equal. */
  async function freshRun(prefix: string): Promise<{ db: TestDatabase; runId: string }> {
    const db = await database();
    expectExit(await runCli(['run', ...sourceArgs(prefix, db.url), '--no-validate']), 0, 'fresh run');
    return { db, runId: await baseRunOf(db.sql) };
  }

  it('a writer on all six tables during the run and between syncs: sync --until-caught-up ends where a fresh run is, and validate --full passes', async () => {
    const { prefix, names } = await seededTables();
    const rng = mulberry32(hashSeed('sync-streams', 1));
    const operations = withDetours(operationsFromAToB(stateA, changed.tables, rng), stateA);
    expect(new Set(changed.changes.map((change) => change.kind)).size).toBeGreaterThan(20);
    const third = Math.ceil(operations.length / 3);
    const db = await database();

    // The first third is written while the run reads the tables.
    const run = startCli(['run', ...sourceArgs(prefix, db.url), '--no-validate', '--batch-rows', '100']);
    await write(client, names, operations.slice(0, third), 2);
    const ran = await run.exited;
    expectExit(ran, 0, 'full run');
    expect(ran.stderr).toContain('streams recorded for `kpi-migrate sync`');
    const baseRun = await baseRunOf(db.sql);

    await write(client, names, operations.slice(third, 2 * third));
    const first = await runCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun, '--until-caught-up', '--batch-changes', '25']);
    expectExit(first, 0, 'first sync');
    // Every write since the run began is a change of the streams: at least the two thirds written since.
    expect(appliedChanges(first.stdout)).toBeGreaterThanOrEqual(2 * third);
    await write(client, names, operations.slice(2 * third));
    const last = await runCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun, '--until-caught-up']);
    expectExit(last, 0, 'last sync');
    expect(last.stdout).toContain('caught up');

    const fresh = await freshRun(prefix);
    expectSameTarget(await targetOf(db.sql, false), await targetOf(fresh.db.sql, false), 'synced vs fresh', changed.changes);
    expect(await rejectKeysOf(db.sql, baseRun)).toEqual(await rejectKeysOf(fresh.db.sql, fresh.runId));
    expect(await failedValidationChecks([...sourceArgs(prefix, db.url), '--full'])).toEqual([]);

    // A sync with nothing new changes nothing.
    const before = await targetOf(db.sql, true);
    expectExit(await runCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun]), 0, 'idle sync');
    expect(await targetOf(db.sql, true)).toEqual(before);
  });
});
