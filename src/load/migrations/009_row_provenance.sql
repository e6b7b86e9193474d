-- Provenance and run bookkeeping of the rows the tool writes into tables the application owns
-- (contract §6: kpi_migrate.target_tables says which those are). Such a table is not altered, so
-- what 002 puts in a row of the tool's own table lives here, one row per row the tool wrote,
-- keyed by table and row id. legacy_extra is null when the application's table has that column
-- (the row holds it then). A row of such a table without a row here is the application's.
--
-- No foreign key to the target: one would put a trigger on the application's table.
create table kpi_migrate.row_provenance (
  table_name    text not null check (table_name in ('kpi_links', 'kpi_data')),
  row_id        uuid not null,
  source_entity text not null,
  source_id     text not null,
  legacy_extra  jsonb,
  first_run_id  bigint not null,
  last_run_id   bigint not null,
  primary key (table_name, row_id)
);
create index row_provenance_source_idx on kpi_migrate.row_provenance (table_name, source_entity, source_id);
