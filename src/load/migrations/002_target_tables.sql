-- {{target_schema}} is replaced by the configured target schema, quoted.
create schema if not exists {{target_schema}};

create table {{target_schema}}.kpi_links (
  id            uuid primary key,
  tenant_id     uuid not null,
  kpi_id        uuid not null,
  person_id     uuid not null,
  goal_id       uuid,
  strategy_id   uuid,
  threshold_pct numeric,
  link_type     text not null check (link_type in ('primary', 'supporting', 'monitoring')),
  weight        numeric,
  display_order integer,
  is_primary    boolean not null default false,
  created_by    uuid not null,
  created_at    timestamptz not null,
  updated_by    uuid,
  updated_at    timestamptz,
  source_entity text not null,
  source_id     text not null,
  legacy_extra  jsonb not null default '{}'::jsonb,
  first_run_id  bigint not null,
  last_run_id   bigint not null
);
create index kpi_links_tenant_kpi_idx on {{target_schema}}.kpi_links (tenant_id, kpi_id);

create table {{target_schema}}.kpi_data (
  id                         uuid primary key,
  kpi_link_id                uuid not null references {{target_schema}}.kpi_links (id),
  data_category              text not null check (data_category in ('target', 'actual')),
  target_subtype             text check (target_subtype in ('expected')),
  actual_subtype             text check (actual_subtype in ('measured')),
  post_value                 numeric not null,
  post_date                  timestamptz not null,
  measured_period_start_date timestamptz,
  label                      text,
  confidence_level           smallint check (confidence_level between 1 and 5),
  rationale                  text,
  original_value             numeric,
  is_manual_override         boolean,
  override_comment           text,
  data_source                text check (data_source in ('manual', 'integration', 'import', 'calculated')),
  source_reference_id        text,
  triggers_replan            boolean,
  replan_threshold_exceeded  boolean,
  auto_adjustment_applied    text,
  recorded_by                text,
  recorded_at                timestamptz,
  created_by                 text,
  created_at                 timestamptz,
  updated_by                 text,
  updated_at                 timestamptz,
  source_entity              text not null,
  source_id                  text not null,
  legacy_extra               jsonb not null default '{}'::jsonb,
  first_run_id               bigint not null,
  last_run_id                bigint not null
);
-- "All data of a link ordered by date" is the application's main read.
create index kpi_data_link_date_idx on {{target_schema}}.kpi_data (kpi_link_id, post_date);
create index kpi_data_post_date_idx on {{target_schema}}.kpi_data (post_date);
create index kpi_data_source_idx on {{target_schema}}.kpi_data (source_entity, source_id);
create index kpi_links_source_idx on {{target_schema}}.kpi_links (source_entity, source_id);
