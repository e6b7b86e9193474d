-- Rolling a sync back (`rollback --run SYNC`, contract §5 "Undo"): a sync replaces the rejects of
-- the records it re-derives in the reject set of the run it continues (kpi_migrate.rejects under
-- the full run's id). Each sync keeps here, under its own run id, the rejects it removed (the
-- whole row, its id included) and the ids of those it inserted, in the batch's transaction; a
-- rollback of the sync deletes the ones it inserted and puts the removed ones back as they were.
create table kpi_migrate.reject_history (
  id          bigint generated always as identity primary key,
  run_id      bigint not null references kpi_migrate.runs (id) on delete cascade,
  reject_id   bigint not null,
  operation   text not null check (operation in ('insert', 'delete')),
  old_reject  jsonb,
  check ((operation = 'delete') = (old_reject is not null))
);
create index reject_history_run_idx on kpi_migrate.reject_history (run_id, operation);
