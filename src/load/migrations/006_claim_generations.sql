-- Fencing tokens for run claims (run-claim.ts). An advisory lock says who may work on a share
-- now, but a process that lost its lock may still have a transaction on its way to COMMIT. Each
-- claim therefore takes a new generation of its share, and every transaction written under a
-- claim proves, before it commits, that its generation is still the current one: a stale
-- writer's transaction then fails whole, whatever the timing.
-- share 0 is a whole run (a single process, a rollback), share K worker K of a shared run.
create table kpi_migrate.claim_generations (
  run_id     bigint not null references kpi_migrate.runs (id) on delete cascade,
  share      integer not null check (share >= 0),
  generation bigint not null check (generation > 0),
  claimed_at timestamptz not null default now(),
  primary key (run_id, share)
);
