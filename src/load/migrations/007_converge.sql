-- The application writes its own rows into kpi_links and kpi_data once it is live, knowing
-- nothing of the migration (contract §5): provenance and run columns must not be required of
-- it. A row whose source_entity is null is the application's: no run ever updates, deletes or
-- takes over such a row.
alter table {{target_schema}}.kpi_links
  alter column source_entity drop not null,
  alter column source_id drop not null,
  alter column first_run_id drop not null,
  alter column last_run_id drop not null;
alter table {{target_schema}}.kpi_data
  alter column source_entity drop not null,
  alter column source_id drop not null,
  alter column first_run_id drop not null,
  alter column last_run_id drop not null;

-- The rows a converge run (`run --converge`) produced so far, written in the transaction of the
-- batch that produced them, so that a resumed run still knows them. At the end of the run every
-- tool-written row it did not produce is removed (the sweep), and these rows go with the sweep.
-- One row per batch and table, its row ids as an array: a row per id cost a b-tree insert each,
-- about 3 s per 365,000 rows, a sixth of a whole run.
create table kpi_migrate.run_rows (
  id         bigint generated always as identity primary key,
  run_id     bigint not null references kpi_migrate.runs (id) on delete cascade,
  table_name text not null check (table_name in ('kpi_links', 'kpi_data')),
  row_ids    uuid[] not null
);
create index run_rows_run_idx on kpi_migrate.run_rows (run_id, table_name);

-- When the converge run's sweep committed: a resumed run does not sweep (nor count) twice.
alter table kpi_migrate.runs add column swept_at timestamptz;
-- Links a converge run no longer justifies but could not remove: a row the tool did not write
-- (the application's) still references them.
alter table kpi_migrate.run_counts add column kept_referenced bigint not null default 0;
