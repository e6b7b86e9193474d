import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openPgliteClient } from '../../src/db/pglite-client.js';
import { DATA_ENTITIES } from '../../src/model/entities.js';
import { expectedOutcome } from '../support/fixtures.js';
import { cli, scratchDir, show } from './cli-process.js';

const expected = expectedOutcome();

/** What the demo left in its PGlite database, counted independently of what it printed. */
async function countsIn(databaseDir: string) {
  const sql = await openPgliteClient(databaseDir);
  try {
    const links = await sql.query<{ n: string }>('select count(*)::text as n from public.kpi_links');
    const data = await sql.query<{ source_entity: string; n: string }>('select source_entity, count(*)::text as n from public.kpi_data group by 1');
    const runs = await sql.query<{ id: string; status: string }>('select id::text, status from kpi_migrate.runs order by id');
    return { links: Number(links.rows[0]!.n), data: Object.fromEntries(data.rows.map((r) => [r.source_entity, Number(r.n)])), runs: runs.rows };
  } finally {
    await sql.close();
  }
}

function expectPassedDemo(stdout: string, databaseDir: string): void {
  for (const entity of ['Kpi', 'Person', 'GoalKpiLink', 'KpiMilestone', 'KpiActual', 'KpiReading']) {
    const t = expected.tables[entity as keyof typeof expected.tables];
    expect(stdout).toMatch(new RegExp(`^${entity} +${t.read} +${t.migrated} +${t.read - t.migrated} +0 `, 'm'));
    expect(stdout).toContain(`✓ ${entity} read/migrated/skipped/rejected`);
  }
  expect(stdout).not.toContain('✗');
  expect(stdout).toContain(`✓ kpi_links rows: ${expected.kpiLinks}`);
  expect(stdout).toContain('validation passed:');
  expect(stdout).toMatch(/✓ full-compare \(kpi_data\): .* every column equal/);
  for (const [label, file] of [['HTML', 'validation.html'], ['Markdown', 'validation.md'], ['JSON', 'validation.json']]) {
    const report = path.join(path.dirname(databaseDir), 'reports', file!);
    expect(stdout).toContain(`${label} report: ${report}`);
    expect(existsSync(report), report).toBe(true);
  }
  expect(stdout).toContain(`database: ${databaseDir}  (pglite://${databaseDir})`);
  expect(stdout.trimEnd().endsWith('demo passed ✓')).toBe(true);
}

describe('kpi-migrate demo (npm start)', () => {
  const workDir = path.join(scratchDir('demo'), 'work');
  const databaseDir = path.join(workDir, 'pglite');

  it('loads the fixtures into the bundled DynamoDB Local, migrates them into PGlite on disk, and checks them', async () => {
    const result = await cli(['demo', '--work-dir', workDir]);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toContain('source: the fixtures loaded into the bundled DynamoDB Local');
    expectPassedDemo(result.stdout, databaseDir);
    expect(existsSync(databaseDir)).toBe(true);
    const found = await countsIn(databaseDir);
    expect(found.links).toBe(expected.kpiLinks);
    for (const entity of DATA_ENTITIES) expect(found.data[entity], entity).toBe(expected.kpiDataRows[entity]);
    expect(found.runs).toEqual([{ id: '1', status: 'completed' }]);
  });

  it('without Java, says so and reads the same fixtures as export files, into a fresh database', async () => {
    // An empty PATH: `java` cannot be found (node itself is started by its full path).
    const result = await cli(['demo', '--work-dir', workDir], { env: { PATH: scratchDir('no-java') } });
    expect(result.code, show(result)).toBe(0);
    expect(result.stderr).toMatch(/DynamoDB Local is not available: DynamoDB Local needs Java 17 or later on the PATH/);
    expect(result.stderr).toMatch(/reading the same fixtures as DynamoDB export files instead \(--source export --export-dir .*fixtures\/small\/export\)/);
    expect(result.stdout).toMatch(/source: the fixtures as export files, because DynamoDB Local is not available/);
    expectPassedDemo(result.stdout, databaseDir);
    const found = await countsIn(databaseDir);
    expect(found.links).toBe(expected.kpiLinks);
    for (const entity of DATA_ENTITIES) expect(found.data[entity], entity).toBe(expected.kpiDataRows[entity]);
    // The previous demo's database was removed: this is run 1 of a new one, every row inserted again.
    expect(found.runs).toEqual([{ id: '1', status: 'completed' }]);
    expect(result.stdout).toMatch(new RegExp(`^KpiActual .* ${expected.kpiDataRows.KpiActual} +${expected.kpiDataRows.KpiActual} +0 +0 `, 'm'));
  });
});
