-- Catch-up until cutover (`kpi-migrate sync`, contract §5): the changes made to the source since
-- a full run are applied to what that run wrote. A sync session is a run of its own (its
-- row_history makes `rollback --run` of it possible) that names the full run it continues.
alter table kpi_migrate.runs add column sync_of bigint references kpi_migrate.runs (id) on delete cascade;

-- The source image of a full run that is synced: every record of the six tables as the target was
-- derived from it, kept current by every sync batch (in the batch's transaction, with the change
-- positions it advances). A sync re-derives what a change touches from here, through the same
-- transform as a run. item: DynamoDB JSON text, exactly as read; null once the record is deleted
-- (kept, so that an older change arriving later changes nothing). tenant_id / kpi_id: canonical,
-- when the record carries them, to find the links and facts a change depends on.
-- write_order: the last change applied (numeric: stream sequence numbers exceed bigint and are
-- compared as numbers); null while the record is as the full read found it.
create table kpi_migrate.source_image (
  run_id      bigint not null references kpi_migrate.runs (id) on delete cascade,
  entity      text not null,
  source_id   text not null,
  item        text,
  tenant_id   text,
  kpi_id      text,
  write_order numeric,
  primary key (run_id, entity, source_id)
);
create index source_image_kpi_idx on kpi_migrate.source_image (run_id, entity, tenant_id, kpi_id);
-- When the image of a run was complete (it is written whole, in one transaction).
alter table kpi_migrate.runs add column image_built_at timestamptz;

-- Where each table's change stream stood when the full run began to read (DynamoDB Streams:
-- the stream ARN and its shards, as DescribeStream listed them before the first Scan page), or
-- that it had none: `sync` refuses such a table and says how to enable one.
create table kpi_migrate.change_streams (
  run_id      bigint not null references kpi_migrate.runs (id) on delete cascade,
  entity      text not null,
  stream_arn  text,
  view_type   text,
  shards      jsonb not null default '[]'::jsonb,
  recorded_at timestamptz not null default now(),
  primary key (run_id, entity)
);

-- How far the syncs of a full run have applied each partition of the change source (a stream
-- shard, an incremental export window), committed with the batch whose changes it covers.
create table kpi_migrate.change_positions (
  run_id     bigint not null references kpi_migrate.runs (id) on delete cascade,
  entity     text not null,
  partition  text not null,
  position   jsonb,
  done       boolean not null default false,
  updated_at timestamptz not null default now(),
  primary key (run_id, entity, partition)
);
