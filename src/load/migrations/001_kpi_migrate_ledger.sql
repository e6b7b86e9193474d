-- Run bookkeeping lives in its own schema, never mixed with product tables (contract §2).
create schema if not exists kpi_migrate;

create table kpi_migrate.runs (
  id            bigint generated always as identity primary key,
  environment   text not null default 'local',
  source_kind   text not null,
  target_schema text not null,
  options       jsonb not null default '{}'::jsonb,
  code_version  text not null,
  config_hash   text not null,
  status        text not null default 'running'
                check (status in ('running', 'completed', 'failed', 'rolled_back')),
  dry_run       boolean not null default false,
  started_at    timestamptz not null default now(),
  finished_at   timestamptz,
  error         jsonb
);

-- One row per (run, entity, partition): where reading stopped. Written in the same
-- transaction as the batch it covers, so a crash never separates rows from position.
create table kpi_migrate.checkpoints (
  run_id     bigint not null references kpi_migrate.runs (id) on delete cascade,
  entity     text not null,
  partition  text not null,
  position   jsonb,
  done       boolean not null default false,
  updated_at timestamptz not null default now(),
  primary key (run_id, entity, partition)
);

-- Per-run accounting, advanced with each committed batch (read = migrated + rejected + skipped).
create table kpi_migrate.run_counts (
  run_id    bigint not null references kpi_migrate.runs (id) on delete cascade,
  entity    text not null,
  read      bigint not null default 0,
  migrated  bigint not null default 0,
  rejected  bigint not null default 0,
  skipped   bigint not null default 0,
  rows_out  bigint not null default 0,
  inserted  bigint not null default 0,
  updated   bigint not null default 0,
  unchanged bigint not null default 0,
  person_fallbacks bigint not null default 0,
  primary key (run_id, entity)
);

create table kpi_migrate.rejects (
  id            bigint generated always as identity primary key,
  run_id        bigint not null references kpi_migrate.runs (id) on delete cascade,
  source_entity text not null,
  source_id     text,
  reason        text not null check (reason in ('missing_field', 'invalid_value', 'invalid_id',
                  'unknown_enum', 'no_kpi_link', 'id_conflict', 'db_error')),
  attribute     text,
  message       text not null,
  sqlstate      text,
  item          jsonb not null,
  created_at    timestamptz not null default now()
);
create index rejects_run_reason_idx on kpi_migrate.rejects (run_id, reason);
create index rejects_source_idx on kpi_migrate.rejects (source_entity, source_id);
