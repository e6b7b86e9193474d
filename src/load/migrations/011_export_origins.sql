-- Where `sync --source export` continues from (contract §5): per table, the full export a run
-- read, with its exportTime. Kept beside the change positions, not among them: a sync that reads
-- the run's source image again starts its positions over, and this point is where they start.
-- export_time is the summary's own ISO-8601 text, compared as an instant by the code.
create table kpi_migrate.export_origins (
  run_id      bigint not null references kpi_migrate.runs (id) on delete cascade,
  entity      text not null,
  export_id   text not null,
  export_time text not null,
  recorded_at timestamptz not null default now(),
  primary key (run_id, entity)
);
