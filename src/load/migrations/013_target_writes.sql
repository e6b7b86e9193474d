-- A generation per target table, taken by every transaction of the tool that inserts or updates
-- rows there (a run's batch, a sync, a rollback), before its first write and kept until it ends
-- (target-writes.ts). A run's session that finds, batch after batch, the generation one past its
-- own last one knows that no other writer of the tool has written there since: every row of the
-- tool in the table is then one it wrote itself (session-writes.ts), and a record it never sent
-- has no rows there, which it need not ask the database record by record.
create table kpi_migrate.target_writes (
  table_name text primary key check (table_name in ('kpi_links', 'kpi_data')),
  generation bigint not null check (generation >= 0)
);
insert into kpi_migrate.target_writes (table_name, generation) values ('kpi_links', 0), ('kpi_data', 0);
