import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMALL_FIXTURES } from '../support/fixtures.js';
import { cli, scratchDir, show } from './cli-process.js';
import { createCliTarget, type CliTarget } from './cli-target.js';

describe('a protected environment', () => {
  let target: CliTarget;
  let dir: string;
  const exportDir = path.join(SMALL_FIXTURES, 'export');

  beforeAll(async () => {
    target = await createCliTarget();
    dir = scratchDir('safety');
    writeFileSync(
      path.join(dir, 'kpi-migrate.config.json'),
      JSON.stringify({ environments: { prod: { protected: true, source: { kind: 'export', dir: exportDir }, target: { databaseUrl: '${PROD_DATABASE_URL}' } } } }),
    );
  });
  afterAll(async () => {
    await target.drop();
  });

  it('refuses every writing command without --yes when not on a terminal, and writes nothing', async () => {
    const env = { PROD_DATABASE_URL: target.url };
    for (const args of [['run', '--env', 'prod'], ['run', '--env', 'prod', '--dry-run'], ['schema', 'apply', '--env', 'prod']]) {
      const result = await cli(args, { cwd: dir, env });
      expect(result.code, `${args.join(' ')}\n${show(result)}`).toBe(2);
      expect(result.stderr).toContain('kpi-migrate: USAGE: environment prod is protected: pass --yes (nothing was done)');
      expect(result.stdout).toBe('');
    }
    expect(await target.runs()).toBe(0);
  });

  it('goes on with --yes', async () => {
    const result = await cli(['run', '--env', 'prod', '--yes', '--batch-rows', '100'], { cwd: dir, env: { PROD_DATABASE_URL: target.url } });
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toMatch(/^run \d+ completed in .* environment prod/);
    expect(await target.runs()).toBe(1);
  });
});
