-- The application's progress cache (contract §6), which `finalize` fills and a converge run or a
-- sync refreshes (src/load/progress-cache.ts). The application's own migrations may have created
-- these tables already: then they are left as they are (`if not exists`), and the cache writer
-- checks that the columns it writes are there before writing any.
--
-- No foreign key to kpi_links: the application deletes links without knowing about the cache,
-- and a refresh removes the rows of links that are gone.
create table if not exists {{target_schema}}.kpi_progress_cache (
  kpi_link_id         uuid primary key,
  tenant_id           uuid not null,
  kpi_id              uuid not null,
  goal_id             uuid,
  current_value       numeric,
  current_value_at    timestamptz,
  target_value        numeric,
  target_date         timestamptz,
  progress_percentage numeric,
  status              text not null check (status in ('not_started', 'in_progress', 'completed')),
  calculation_method  text not null,
  last_calculated_at  timestamptz not null
);

create table if not exists {{target_schema}}.goal_progress_cache (
  tenant_id             uuid not null,
  goal_id               uuid not null,
  child_count           integer not null,
  completed_child_count integer not null,
  total_weight          numeric not null,
  weighted_progress     numeric,
  last_calculated_at    timestamptz not null,
  primary key (tenant_id, goal_id)
);
