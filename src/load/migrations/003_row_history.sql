-- The image a row had before a run changed it, written in the transaction of the batch that
-- changed it, so that `rollback` can put it back. Rows a run inserted need no image: their
-- first_run_id names the run. When one run changes a row twice, the lowest id is the original.
create table kpi_migrate.row_history (
  id          bigint generated always as identity primary key,
  run_id      bigint not null references kpi_migrate.runs (id) on delete cascade,
  table_name  text not null check (table_name in ('kpi_links', 'kpi_data')),
  row_id      uuid not null,
  -- 'update': the row was overwritten; 'delete': a record no longer produces it (a link it fanned
  -- out to is gone) and it was removed. old_row is to_jsonb of the whole row in both cases.
  operation   text not null check (operation in ('update', 'delete')),
  old_row     jsonb not null,
  recorded_at timestamptz not null default now()
);
create index row_history_run_idx on kpi_migrate.row_history (run_id, table_name, row_id);

-- Rows removed because their record no longer produces them (see row_history.operation).
alter table kpi_migrate.run_counts add column deleted bigint not null default 0;
