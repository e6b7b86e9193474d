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
import { DynamoDBStreamsClient, TrimmedDataAccessException } from '@aws-sdk/client-dynamodb-streams';
import { resolveConfig } from '../../src/config/resolve.js';
import { MigrateError } from '../../src/errors.js';
import { syncConfigured } from '../../src/pipeline/sync-configured.js';
import { syncChanges } from '../../src/pipeline/sync.js';
import { createStreamChangeSource } from '../../src/extract/dynamodb-stream.js';
import { changeStreamsRecordedAt, recordedChangeStreams } from '../../src/load/source-image.js';
import { configuredStreamOptions, openConfiguredSource } from '../../src/reading/open-source.js';
import { rollbackRun } from '../../src/load/rollback.js';
import { expectSameTarget, rejectKeysOf, targetOf } from './converge-support.js';

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
    // validate at cutover: --full against the live tables passes, and names the stream positions it is as of.
    const validated = await runCli(['validate', ...sourceArgs(prefix, db.url), '--full', '--format', 'json']);
    expectExit(validated, 0, 'validate --full');
    const report = JSON.parse(validated.stdout) as { checks: { name: string; status: string; summary: string }[]; source: { description?: string } };
    expect(report.checks.filter((check) => check.status === 'failed')).toEqual([]);
    expect(report.source.description).toMatch(new RegExp(`as of the changes synced into run ${baseRun}: .*KpiReading shardId-\\S+ \\{"sequenceNumber": ?"\\d+"\\}`));

    // A sync with nothing new changes nothing.
    const before = await targetOf(db.sql, true);
    expectExit(await runCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun]), 0, 'idle sync');
    expect(await targetOf(db.sql, true)).toEqual(before);
  });

  it('sync SIGKILLed at seeded moments and started again, with writes between the restarts, ends where a fresh run is', async () => {
    const { prefix, names } = await seededTables();
    const rng = mulberry32(hashSeed('sync-streams', 2));
    const operations = withDetours(operationsFromAToB(stateA, changed.tables, rng), stateA);
    const db = await database();
    expectExit(await runCli(['run', ...sourceArgs(prefix, db.url), '--no-validate']), 0, 'full run');
    const baseRun = await baseRunOf(db.sql);
    // Half the writes before the first sync, the rest in slices between the restarts.
    const half = Math.ceil(operations.length / 2);
    await write(client, names, operations.slice(0, half));
    const slices = Array.from({ length: 4 }, (_, k) => operations.slice(half + Math.ceil(((operations.length - half) * k) / 4), half + Math.ceil(((operations.length - half) * (k + 1)) / 4)));

    let kills = 0;
    for (let attempt = 0; attempt < 40; attempt++) {
      if (attempt > 0) await write(client, names, slices.shift() ?? []);
      const sync = startCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun, '--until-caught-up', '--batch-changes', '7']);
      // Seeded moments: some before the image is read, most among the batches. A machine fast
      // enough to finish a sync before its moment has it killed early the next time.
      const wait = kills === 0 && attempt > 0 ? 300 : 300 + Math.floor(rng.next() * 2500);
      const ended = await Promise.race([sync.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), wait))]);
      if (ended !== undefined) {
        expectExit(ended, 0, `sync after ${kills} kill(s)`);
        if (kills === 0) continue;
        break;
      }
      const outcome = await sync.kill('SIGKILL');
      if (outcome.signal === 'SIGKILL') kills += 1;
      else {
        expectExit(outcome, 0, `sync after ${kills} kill(s)`);
        break;
      }
    }
    expect(kills).toBeGreaterThan(0);
    for (const slice of slices) await write(client, names, slice);
    // Whatever the kills left, a sync ends caught up.
    expectExit(await runCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun, '--until-caught-up']), 0, 'last sync');

    const fresh = await freshRun(prefix);
    expectSameTarget(await targetOf(db.sql, false), await targetOf(fresh.db.sql, false), `synced with ${kills} kill(s) vs fresh`, changed.changes);
    expect(await rejectKeysOf(db.sql, baseRun)).toEqual(await rejectKeysOf(fresh.db.sql, fresh.runId));
  });

  it('facts deleted or moved before the first sync reads its image, their KPI\'s first link deleted too: no row and no link is left behind', async () => {
    // The interleaving of the --follow anomaly, made deterministic: the writes land after the
    // sync's first stream page and before its image Scan, so the image is newer than the changes
    // applied so far. The stream is read table by table (links before milestones), so the link's
    // delete is applied while the milestones' changes are still ahead: the image no longer places
    // them on the link's KPI, the target still holds their rows on the link.
    const { prefix, names } = await seededTables();
    const db = await database();
    expectExit(await runCli(['run', ...sourceArgs(prefix, db.url), '--no-validate']), 0, 'full run');
    const baseRun = await baseRunOf(db.sql);
    const { rows: picked } = await db.sql.query<{ link: string; deleted_fact: string; moved_fact: string; other_kpi: string }>(
      `select l.source_id as link,
              (array_agg(distinct d.source_id order by d.source_id))[1] as deleted_fact,
              (array_agg(distinct d.source_id order by d.source_id))[2] as moved_fact,
              (select o.kpi_id::text from public.kpi_links o where o.tenant_id = l.tenant_id and o.kpi_id <> l.kpi_id order by o.id limit 1) as other_kpi
       from public.kpi_links l join public.kpi_data d on d.kpi_link_id = l.id
       where d.source_entity = 'KpiMilestone' and d.id::text = lower(regexp_replace(d.source_id, '[{}]', '', 'g'))
         and (select count(*) from public.kpi_links s where s.tenant_id = l.tenant_id and s.kpi_id = l.kpi_id) >= 2
       group by l.id, l.source_id, l.tenant_id, l.kpi_id
       having count(distinct d.source_id) >= 2
       order by l.id limit 1`,
    );
    const chosen = picked[0]!;
    expect(chosen.other_kpi).not.toBeNull();
    const { deleted_fact: deletedFact, moved_fact: movedFact } = chosen;
    const movedItem = stateA.KpiMilestone.find((item) => idOf(item) === movedFact)!;
    const interleaved: Operation[] = [
      { entity: 'KpiMilestone', remove: deletedFact },
      { entity: 'KpiMilestone', put: { ...movedItem, KpiId: { S: chosen.other_kpi } } },
      { entity: 'GoalKpiLink', remove: chosen.link },
    ];

    const config = resolveConfig({ env: {}, overrides: { source: 'dynamodb', dynamodbEndpoint: endpoint, tablePrefix: prefix, databaseUrl: db.url } });
    const source = createStreamChangeSource({
      ...configuredStreamOptions(config)!,
      recorded: await recordedChangeStreams(db.sql, baseRun),
      recordedAt: (await changeStreamsRecordedAt(db.sql, baseRun))!,
      follow: false,
    });
    let imageReads = 0;
    try {
      const result = await syncChanges({
        sql: db.sql,
        targetSchema: 'public',
        baseRunId: baseRun,
        changes: (from, signal) => source.changes(from, signal),
        imageSource: async () => {
          imageReads += 1;
          await write(client, names, interleaved);
          return openConfiguredSource(config);
        },
        environment: 'test',
        ledgerOptions: {},
        codeVersion: 'test',
        configHash: 'test',
      });
      expect(result.ended).toBe('drained');
    } finally {
      await source.close();
    }
    expect(imageReads).toBe(1);
    const { rows: image } = await db.sql.query<{ entity: string; source_id: string }>(
      `select entity, source_id from kpi_migrate.source_image where run_id = $1::bigint and source_id = any($2::text[]) and item is null order by 1, 2`,
      [baseRun, [deletedFact, chosen.link]],
    );
    // Both deletes reached the image through the stream (the Scan had not seen the records at all).
    expect(image.map((row) => `${row.entity} ${row.source_id}`)).toEqual([`GoalKpiLink ${chosen.link}`, `KpiMilestone ${deletedFact}`]);

    const fresh = await freshRun(prefix);
    expectSameTarget(await targetOf(db.sql, false), await targetOf(fresh.db.sql, false), 'synced vs fresh');
    expect(await rejectKeysOf(db.sql, baseRun)).toEqual(await rejectKeysOf(fresh.db.sql, fresh.runId));
  });

  it('a trimmed stream position (the SDK answers TrimmedDataAccessException) is refused with exit 2 and the gap, and nothing is written', async () => {
    const { prefix, names } = await seededTables();
    const db = await database();
    expectExit(await runCli(['run', ...sourceArgs(prefix, db.url), '--no-validate']), 0, 'full run');
    const baseRun = await baseRunOf(db.sql);
    await write(client, names, operationsFromAToB(stateA, changed.tables, mulberry32(3)).slice(0, 20));
    const before = await targetOf(db.sql, true);
    const ledger = async () =>
      (await db.sql.query<{ n: string }>(`select (select count(*) from kpi_migrate.runs) || '/' || (select count(*) from kpi_migrate.source_image) || '/' || (select count(*) from kpi_migrate.change_positions) || '/' || (select count(*) from kpi_migrate.rejects) as n`)).rows[0]!.n;
    const ledgerBefore = await ledger();

    const streams = new DynamoDBStreamsClient({ endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
    cleanups.push(async () => streams.destroy());
    // Fault injection: every GetRecords is answered as DynamoDB answers a position older than 24 hours.
    streams.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetRecordsCommand') {
          throw new TrimmedDataAccessException({ message: 'The operation attempted to read past the oldest stream record in a shard.', $metadata: { httpStatusCode: 400 } });
        }
        return next(args);
      },
      { step: 'initialize', name: 'trimmedFault' },
    );
    const config = resolveConfig({ env: {}, overrides: { source: 'dynamodb', dynamodbEndpoint: endpoint, tablePrefix: prefix, databaseUrl: db.url } });
    const refusal = await syncConfigured(config, { run: baseRun, follow: false, streamsClient: streams }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(MigrateError);
    expect((refusal as MigrateError).code).toBe('SYNC_REFUSED');
    expect((refusal as MigrateError).message).toMatch(/TrimmedDataAccessException.*a new full run is needed|A new full run is needed/);
    expect((refusal as MigrateError).message).toMatch(/h of changes may be lost/);
    expect(await targetOf(db.sql, true)).toEqual(before);
    expect(await ledger()).toBe(ledgerBefore);
  });

  it('a table without a stream: the run says so once, and sync refuses it (exit 2) saying how to enable one', async () => {
    const prefix = `n${randomBytes(4).toString('hex')}-`;
    const names = defaultTableNames(prefix);
    await loadLegacyTables(client, LEGACY_ENTITIES.map((entity) => ({ table: names[entity], items: stateA[entity].slice(0, 5) })));
    const db = await database();
    const ran = await runCli(['run', ...sourceArgs(prefix, db.url), '--no-validate']);
    expectExit(ran, 0, 'run');
    expect(ran.stderr.match(/has a DynamoDB Stream|no DynamoDB Stream/g)).toHaveLength(1);
    const refused = await runCli(['sync', ...sourceArgs(prefix, db.url), '--run', await baseRunOf(db.sql)]);
    expectExit(refused, 2, 'sync');
    expect(refused.stderr).toContain('SYNC_REFUSED');
    expect(refused.stderr).toContain('--stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES');
  });

  it('rollback of a sync restores the target, the reject set and the sync state: a later sync must be named, and the next sync ends where a fresh run is', async () => {
    const { prefix, names } = await seededTables();
    const db = await database();
    expectExit(await runCli(['run', ...sourceArgs(prefix, db.url), '--no-validate', '--no-finalize']), 0, 'full run');
    const baseRun = await baseRunOf(db.sql);
    // Every column of the run's reject set, ids included: a rollback puts back exactly what was there.
    const rejectSet = async (): Promise<string[]> =>
      (
        await db.sql.query<{ r: string }>(
          `select concat_ws(' ', id, source_entity, source_id, reason, attribute, message, sqlstate, item::text, created_at) as r from kpi_migrate.rejects where run_id = $1::bigint order by id`,
          [baseRun],
        )
      ).rows.map((row) => row.r);
    const syncState = async (): Promise<string> =>
      (
        await db.sql.query<{ s: string }>(
          `select (select count(*) from kpi_migrate.source_image where run_id = $1::bigint) || ' image records, ' ||
                  (select count(*) from kpi_migrate.change_positions where run_id = $1::bigint) || ' positions, built ' ||
                  (select coalesce(image_built_at::text, 'never') from kpi_migrate.runs where id = $1::bigint) as s`,
          [baseRun],
        )
      ).rows[0]!.s;
    const syncRuns = async (): Promise<string[]> =>
      (await db.sql.query<{ id: string }>('select id::text as id from kpi_migrate.runs where sync_of = $1::bigint order by id', [baseRun])).rows.map((row) => row.id);
    const afterRun = { target: await targetOf(db.sql, true), rejects: await rejectSet() };

    const operations = operationsFromAToB(stateA, changed.tables, mulberry32(4));
    const half = Math.ceil(operations.length / 2);
    await write(client, names, operations.slice(0, half));
    expectExit(await runCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun]), 0, 'first sync');
    const [firstSync] = await syncRuns();
    const afterFirst = { target: await targetOf(db.sql, true), rejects: await rejectSet() };
    expect(afterFirst.target).not.toEqual(afterRun.target);
    expect(afterFirst.rejects).not.toEqual(afterRun.rejects);
    await write(client, names, operations.slice(half));
    expectExit(await runCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun]), 0, 'second sync');
    const secondSync = (await syncRuns())[1]!;

    // The earlier sync alone is refused, naming the later one (the plan says so too, exit 2).
    const plan = await runCli(['rollback', '--database-url', db.url, '--run', firstSync!]);
    expectExit(plan, 2, 'rollback plan of the first sync');
    expect(plan.stdout).toContain(`run ${secondSync} (completed) on run ${firstSync}: a later sync of run ${baseRun}`);
    expect(plan.stdout).toContain(`--also ${secondSync}`);
    const refused = await rollbackRun(db.sql, { runId: firstSync!, schema: 'public', confirm: true }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((refused as MigrateError).code).toBe('RUN_STATE');
    expect(await syncState()).not.toMatch(/^0 image records/);

    // The later sync alone: the target and the reject set as the first sync left them, and no sync state.
    const undone = await rollbackRun(db.sql, { runId: secondSync, schema: 'public', confirm: true });
    expect(undone.runs[0]!.sync).toMatchObject({ baseRunId: baseRun });
    expect(await targetOf(db.sql, true)).toEqual(afterFirst.target);
    expect(await rejectSet()).toEqual(afterFirst.rejects);
    expect(await syncState()).toBe('0 image records, 0 positions, built never');

    // The next sync reads the image again and replays from the run's recorded point: a fresh run's target and rejects.
    expectExit(await runCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun]), 0, 'sync after the rollback');
    const fresh = await freshRun(prefix);
    expectSameTarget(await targetOf(db.sql, false), await targetOf(fresh.db.sql, false), 'synced after a rollback vs fresh', changed.changes);
    expect(await rejectKeysOf(db.sql, baseRun)).toEqual(await rejectKeysOf(fresh.db.sql, fresh.runId));

    // The first sync with the one after the rollback named: the run's own target and reject set back.
    const thirdSync = (await syncRuns())[2]!;
    const both = await runCli(['rollback', '--database-url', db.url, '--run', firstSync!, '--also', thirdSync, '--confirm', '--yes']);
    expectExit(both, 0, 'rollback of the first and the third sync');
    expect(both.stdout).toContain(`its source image and change positions dropped`);
    expect(await targetOf(db.sql, true)).toEqual(afterRun.target);
    expect(await rejectSet()).toEqual(afterRun.rejects);
    expect(await syncState()).toBe('0 image records, 0 positions, built never');
    expectExit(await runCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun]), 0, 'sync after the second rollback');
    expectSameTarget(await targetOf(db.sql, false), await targetOf(fresh.db.sql, false), 'synced after two rollbacks vs fresh', changed.changes);
    expect(await rejectKeysOf(db.sql, baseRun)).toEqual(await rejectKeysOf(fresh.db.sql, fresh.runId));
  });

  it('sync --follow applies changes as they come, shows the lag, and stops cleanly on SIGTERM between batches', async () => {
    const { prefix, names } = await seededTables();
    const db = await database();
    expectExit(await runCli(['run', ...sourceArgs(prefix, db.url), '--no-validate']), 0, 'full run');
    const baseRun = await baseRunOf(db.sql);
    const operations = operationsFromAToB(stateA, changed.tables, mulberry32(5));
    const sync = startCli(['sync', ...sourceArgs(prefix, db.url), '--run', baseRun, '--follow', '--batch-changes', '50']);
    await write(client, names, operations, 1);
    // Followed until the changes it applies stop growing (it polls the drained shards every second), then stopped.
    const applied = async (): Promise<number> =>
      Number((await db.sql.query<{ n: string | null }>(`select sum(c.read)::text as n from kpi_migrate.run_counts c join kpi_migrate.runs r on r.id = c.run_id where r.sync_of = $1::bigint`, [baseRun])).rows[0]?.n ?? 0);
    let seen = -1;
    for (let now = await applied(); (now !== seen || now < operations.length) && sync.running(); now = await applied()) {
      seen = now;
      await new Promise((resolve) => setTimeout(resolve, 4000));
    }
    expect(sync.running()).toBe(true);
    const stopped = await sync.kill('SIGTERM');
    expectExit(stopped, 0, 'sync --follow stopped by SIGTERM');
    expect(stopped.stdout).toContain('stopped');
    expect(stopped.stderr).toMatch(/lag \d+ s/);
    expect(stopped.stderr).toContain('"event":"sync"');

    const fresh = await freshRun(prefix);
    expectSameTarget(await targetOf(db.sql, false), await targetOf(fresh.db.sql, false), 'followed vs fresh', changed.changes);
    expect(await rejectKeysOf(db.sql, baseRun)).toEqual(await rejectKeysOf(fresh.db.sql, fresh.runId));
  });
});
