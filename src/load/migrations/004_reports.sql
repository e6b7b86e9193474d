-- Every run and every validation leaves a report (reportVersion 1, see docs/reports.md), kept
-- beside the run it describes so that `kpi-migrate report --run ID` can render it later.
-- A validation of a target no run wrote has no run: run_id is null then.
create table kpi_migrate.reports (
  id         bigint generated always as identity primary key,
  run_id     bigint references kpi_migrate.runs (id) on delete cascade,
  kind       text not null check (kind in ('run', 'validate')),
  report     jsonb not null,
  created_at timestamptz not null default now()
);
create index reports_run_idx on kpi_migrate.reports (run_id, kind, id);
