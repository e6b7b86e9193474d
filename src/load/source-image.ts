import { MigrateError } from '../errors.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { targetFailure } from '../db/database-error.js';
import type { ChangePositions } from '../model/change.js';
import { LEGACY_ENTITIES, type LegacyEntity } from '../model/entities.js';
import type { ResumeState } from '../model/source.js';
import { encodeCopyValue } from './copy-text.js';
import { positionFromJsonb, positionToJsonb, storableJson } from './jsonb-text.js';

/**
 * One record of a run's source image (migration 010): its item as DynamoDB JSON text (null once
 * deleted), the canonical tenant and KPI it names, and the last change applied to it.
 */
export interface ImageRecord {
  entity: LegacyEntity;
  sourceId: string;
  /** DynamoDB JSON text; null: the record is deleted. */
  item: string | null;
  tenantId: string | null;
  kpiId: string | null;
  /** Decimal digits of the last applied write order; null: as the full read found it. */
  writeOrder: string | null;
}

const IMAGE_COLUMNS = ['run_id', 'entity', 'source_id', 'item', 'tenant_id', 'kpi_id', 'write_order'] as const;

function copyLine(runId: string, record: ImageRecord): string {
  const values = [runId, record.entity, record.sourceId, record.item, record.tenantId, record.kpiId, record.writeOrder];
  return `${values.map((value) => encodeCopyValue(value)).join('\t')}\n`;
}

/** Whether the run's source image was written whole. */
export async function imageBuiltAt(sql: SqlSession, runId: string): Promise<Date | null> {
  const { rows } = await sql.query<{ image_built_at: Date | null }>('select image_built_at from kpi_migrate.runs where id = $1::bigint', [runId]);
  return rows[0]?.image_built_at ?? null;
}

/** Appends records to a run's image being built (a COPY; the caller's transaction marks it built). */
export async function copyImageRecords(session: SqlSession, runId: string, records: readonly ImageRecord[]): Promise<void> {
  if (records.length === 0) return;
  const text = records.map((record) => copyLine(runId, record)).join('');
  const copied = await session.copyFrom('kpi_migrate.source_image', IMAGE_COLUMNS, text);
  if (copied !== records.length) throw new MigrateError('INTERNAL', `COPY into the source image took ${copied} records, ${records.length} were sent`);
}

/** Starts an image over (an interrupted build left nothing committed, but an earlier build may have). */
export async function clearImage(session: SqlSession, runId: string): Promise<void> {
  await session.query('delete from kpi_migrate.source_image where run_id = $1::bigint', [runId]);
  await session.query('delete from kpi_migrate.change_positions where run_id = $1::bigint', [runId]);
}

export async function markImageBuilt(session: SqlSession, runId: string): Promise<void> {
  await session.query('update kpi_migrate.runs set image_built_at = now() where id = $1::bigint', [runId]);
}

/** The run has no image any more (a rollback of its syncs dropped it): its next sync reads one again. */
export async function unmarkImageBuilt(session: SqlSession, runId: string): Promise<void> {
  await session.query('update kpi_migrate.runs set image_built_at = null where id = $1::bigint', [runId]);
}

interface ImageRow {
  entity: LegacyEntity;
  source_id: string;
  item: string | null;
  tenant_id: string | null;
  kpi_id: string | null;
  write_order: string | null;
}

const SELECT_IMAGE = `select entity, source_id, item, tenant_id, kpi_id, write_order::text as write_order from kpi_migrate.source_image`;

function recordOf(row: ImageRow): ImageRecord {
  return { entity: row.entity, sourceId: row.source_id, item: row.item, tenantId: row.tenant_id, kpiId: row.kpi_id, writeOrder: row.write_order };
}

/** The live records of one table of the image, in pages (a keyset walk: the table may be large). */
export async function* imageRecordsOf(sql: SqlSession, runId: string, entity: LegacyEntity, pageSize = 20_000): AsyncGenerator<ImageRecord[]> {
  let after = '';
  for (;;) {
    const { rows } = await sql.query<ImageRow>(
      `${SELECT_IMAGE} where run_id = $1::bigint and entity = $2 and source_id > $3 and item is not null order by source_id limit $4`,
      [runId, entity, after, pageSize],
    );
    if (rows.length === 0) return;
    yield rows.map(recordOf);
    after = rows[rows.length - 1]!.source_id;
  }
}

/** The image's records by key, deleted ones included (what a change is compared with). */
export async function imageRecordsByKey(sql: SqlSession, runId: string, keys: readonly { entity: LegacyEntity; sourceId: string }[]): Promise<ImageRecord[]> {
  if (keys.length === 0) return [];
  const { rows } = await sql.query<ImageRow>(
    `${SELECT_IMAGE} i where i.run_id = $1::bigint and (i.entity, i.source_id) in (select * from unnest($2::text[], $3::text[]))`,
    [runId, keys.map((key) => key.entity), keys.map((key) => key.sourceId)],
  );
  return rows.map(recordOf);
}

/** The live records of these entities that name one of the (tenant, KPI) pairs. */
export async function imageRecordsOfKpis(
  sql: SqlSession,
  runId: string,
  entities: readonly LegacyEntity[],
  kpis: readonly { tenantId: string; kpiId: string }[],
): Promise<ImageRecord[]> {
  if (kpis.length === 0) return [];
  const { rows } = await sql.query<ImageRow>(
    `${SELECT_IMAGE} i where i.run_id = $1::bigint and i.entity = any($2::text[]) and i.item is not null
       and (i.tenant_id, i.kpi_id) in (select * from unnest($3::text[], $4::text[]))`,
    [runId, entities, kpis.map((kpi) => kpi.tenantId), kpis.map((kpi) => kpi.kpiId)],
  );
  return rows.map(recordOf);
}

/** The live records of an entity in these tenants. */
export async function imageRecordsOfTenants(sql: SqlSession, runId: string, entity: LegacyEntity, tenants: readonly string[]): Promise<ImageRecord[]> {
  if (tenants.length === 0) return [];
  const { rows } = await sql.query<ImageRow>(
    `${SELECT_IMAGE} i where i.run_id = $1::bigint and i.entity = $2 and i.item is not null and i.tenant_id = any($3::text[])`,
    [runId, entity, tenants],
  );
  return rows.map(recordOf);
}

/** Writes the new state of changed records (upsert by key): in the transaction of the batch that applies them. */
export async function storeImageRecords(session: SqlSession, runId: string, records: readonly ImageRecord[]): Promise<void> {
  if (records.length === 0) return;
  await session.query(
    `insert into kpi_migrate.source_image as i (run_id, entity, source_id, item, tenant_id, kpi_id, write_order)
     select $1::bigint, r.entity, r.source_id, r.item, r.tenant_id, r.kpi_id, r.write_order::numeric
     from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) as r(entity, source_id, item, tenant_id, kpi_id, write_order)
     on conflict (run_id, entity, source_id) do update set
       item = excluded.item, tenant_id = excluded.tenant_id, kpi_id = excluded.kpi_id, write_order = excluded.write_order`,
    [
      runId,
      records.map((r) => r.entity),
      records.map((r) => r.sourceId),
      records.map((r) => r.item),
      records.map((r) => r.tenantId),
      records.map((r) => r.kpiId),
      records.map((r) => r.writeOrder),
    ],
  );
}

/** Where the syncs of a run stand in its change source, per table and partition. */
export async function loadChangePositions(sql: SqlSession, runId: string): Promise<ChangePositions> {
  const { rows } = await sql.query<{ entity: LegacyEntity; partition: string; position: unknown; done: boolean }>(
    'select entity, partition, position::text as position, done from kpi_migrate.change_positions where run_id = $1::bigint',
    [runId],
  );
  const positions: ChangePositions = {};
  for (const row of rows) {
    if (!LEGACY_ENTITIES.includes(row.entity)) continue;
    const state: ResumeState = positions[row.entity] ?? {};
    state[row.partition] = { position: positionFromJsonb(row.position as string | null), done: row.done };
    positions[row.entity] = state;
  }
  return positions;
}

export interface ChangePositionAdvance {
  entity: LegacyEntity;
  partition: string;
  position: ResumeState[string]['position'];
  done: boolean;
}

/** Commits where partitions stand, in the transaction of the batch whose changes they cover. */
export async function advanceChangePositions(session: SqlSession, runId: string, advances: readonly ChangePositionAdvance[]): Promise<void> {
  if (advances.length === 0) return;
  const entries = advances.map(
    (a) => `{"entity":${storableJson(a.entity)},"partition":${storableJson(a.partition)},"position":${positionToJsonb(a.position)},"done":${a.done}}`,
  );
  await session.query(
    `insert into kpi_migrate.change_positions (run_id, entity, partition, position, done, updated_at)
     select $1::bigint, c.entity, c.partition, c.position, c.done, now()
     from jsonb_to_recordset($2::jsonb) as c(entity text, partition text, position jsonb, done boolean)
     on conflict (run_id, entity, partition) do update set position = excluded.position, done = excluded.done, updated_at = excluded.updated_at`,
    [runId, `[${entries.join(',')}]`],
  );
}

/** A table's change stream as the full run found it before its first read. */
export interface RecordedStream {
  entity: LegacyEntity;
  /** Null: the table had no stream. */
  streamArn: string | null;
  viewType: string | null;
  shards: { shardId: string; parentShardId: string | null; startingSequenceNumber: string; endingSequenceNumber: string | null }[];
}

export async function recordChangeStreams(sql: SqlClient, runId: string, streams: readonly RecordedStream[]): Promise<void> {
  try {
    await sql.transaction(async (tx) => {
      for (const stream of streams) {
        await tx.query(
          `insert into kpi_migrate.change_streams (run_id, entity, stream_arn, view_type, shards) values ($1::bigint, $2, $3, $4, $5::jsonb)
           on conflict (run_id, entity) do nothing`,
          [runId, stream.entity, stream.streamArn, stream.viewType, JSON.stringify(stream.shards)],
        );
      }
    });
  } catch (error) {
    throw targetFailure(error, `recording the change streams of run ${runId}`);
  }
}

export async function recordedChangeStreams(sql: SqlSession, runId: string): Promise<RecordedStream[]> {
  const { rows } = await sql.query<{ entity: LegacyEntity; stream_arn: string | null; view_type: string | null; shards: string }>(
    'select entity, stream_arn, view_type, shards::text as shards from kpi_migrate.change_streams where run_id = $1::bigint order by entity',
    [runId],
  );
  return rows.map((row) => ({ entity: row.entity, streamArn: row.stream_arn, viewType: row.view_type, shards: JSON.parse(row.shards) as RecordedStream['shards'] }));
}

/** When the run recorded its streams (the earliest table's): the age of a shard never read is counted from here. */
export async function changeStreamsRecordedAt(sql: SqlSession, runId: string): Promise<Date | undefined> {
  const { rows } = await sql.query<{ ms: number | string | null }>(
    'select (extract(epoch from min(recorded_at)) * 1000)::float8 as ms from kpi_migrate.change_streams where run_id = $1::bigint',
    [runId],
  );
  const ms = rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : new Date(Number(ms));
}
