import { missing } from '../support/prerequisites.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlSession } from '../../src/db/sql-client.js';
import { MIGRATED_ENTITIES } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { describeOutcome, runCli, startCli } from '../support/child-cli.js';
import { targetRows } from '../support/target-rows.js';
import { accountingOf, committedReads, exportRunArgs, pollUntil, runIds, seedManyFiles, temporaryDirectory } from './harness.js';

const skipReason = missing('postgres-server');

/** Everything a dry run must leave as it was: the target rows and the whole ledger of runs. */
async function everything(sql: SqlSession) {
  const { rows } = await sql.query<Record<string, string>>(
    `select (select json_agg(r order by id)::text from (select id, status, finished_at, error from kpi_migrate.runs) r) as runs,
            (select json_agg(c order by run_id, entity, partition)::text from kpi_migrate.checkpoints c) as checkpoints,
            (select json_agg(c order by run_id, entity)::text from kpi_migrate.run_counts c) as run_counts,
            (select count(*) from kpi_migrate.rejects)::text as rejects,
            (select count(*) from kpi_migrate.row_history)::text as row_history`,
  );
  return { ledger: rows[0], rows: await targetRows(sql) };
}

describe.skipIf(skipReason !== undefined)('run --resume RUN --dry-run of a killed run', () => {
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  let db: TestDatabase;

  beforeAll(async () => {
    data = await temporaryDirectory('dry-resume');
    await seedManyFiles(data.dir, { items: 1000, seed: 99, itemsPerFile: 100 });
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
    await data?.remove();
  });

  it('reports what the real resume then does, and leaves the run, its ledger and the target as they were', async () => {
    const args = exportRunArgs(data.dir, db.url, '--no-validate');
    const child = startCli(args);
    const reached = await pollUntil(async () => ((await committedReads(db.sql)) > 400 ? true : undefined), child.running, 2);
    const killed = await child.kill('SIGKILL');
    expect(reached && killed.signal === 'SIGKILL', `the run was to be killed mid-load: ${describeOutcome(killed)}`).toBe(true);
    const [runId] = await runIds(db.sql);
    const before = await everything(db.sql);
    expect(JSON.parse(before.ledger!.checkpoints ?? '[]')).not.toHaveLength(0);

    const dry = await runCli([...args, '--resume', runId!, '--dry-run']);
    expect(dry.code, describeOutcome(dry)).toBe(0);
    expect(dry.stdout).toContain(`run ${runId} (dry run: nothing written) completed`);
    expect(await everything(db.sql)).toEqual(before);

    const real = await runCli([...args, '--resume', runId!]);
    expect(real.code, describeOutcome(real)).toBe(0);
    const accounting = await accountingOf(db.sql, runId!);
    // The summary's table, entity by entity: the dry run printed the figures the real resume ended with.
    const tableOf = (stdout: string) => stdout.split('\n').filter((line) => MIGRATED_ENTITIES.some((entity) => line.startsWith(`${entity} `)) && /\d\s+\d/.test(line));
    const figures = (line: string) => line.trim().split(/\s+/).slice(0, 9).join(' ');
    expect(tableOf(dry.stdout).map(figures)).toEqual(tableOf(real.stdout).map(figures));
    expect(tableOf(real.stdout).length).toBeGreaterThanOrEqual(MIGRATED_ENTITIES.length);
    for (const entity of MIGRATED_ENTITIES) {
      expect(tableOf(dry.stdout).map(figures), entity).toContain(
        [entity, ...(['read', 'migrated', 'rejected', 'skipped', 'rowsOut', 'inserted', 'updated', 'unchanged'] as const).map((k) => String(accounting[entity]![k]))].join(' '),
      );
    }
  });
});
