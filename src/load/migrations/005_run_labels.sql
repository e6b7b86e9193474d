-- A run may carry a label the operator chose, so that workers started with the same arguments
-- (a Kubernetes Indexed Job, an AWS Batch array job) find one run: the first to arrive creates
-- it, the others and every restarted worker join it. Unique, so two workers arriving at once
-- cannot create two runs; a label names one run for good (a new migration takes a new label).
alter table kpi_migrate.runs add column label text constraint runs_label_key unique;
