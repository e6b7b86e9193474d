import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README, renderUsage, withUsage } from '../../scripts/readme-usage.js';
import { resolveConfig } from '../../src/config/resolve.js';

const readme = readFileSync(README, 'utf8');

describe('the README', () => {
  it('holds the usage the built CLI prints (else: npm run readme)', () => {
    expect(withUsage(readme, renderUsage()) === readme, 'README.md usage is stale: run `npm run readme`').toBe(true);
  });

  it('shows a configuration example that the tool accepts, every environment of it', () => {
    const example = /<!-- config-example:start -->\n```json\n([\s\S]*?)```\n<!-- config-example:end -->/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'kpi-readme-')), 'kpi-migrate.config.json');
    writeFileSync(file, example!);
    const env = { DEV_DATABASE_URL: 'postgres://dev@db/kpi', STAGING_DATABASE_URL: 'postgres://st@db/kpi', PROD_DATABASE_URL: 'postgres://prod@db/kpi' };
    const resolved = ['local', 'dev', 'staging', 'prod'].map((environment) => resolveConfig({ configFile: file, environment, env }));
    expect(resolved.map((c) => [c.environment, c.protected, c.source?.kind, c.target.databaseUrl])).toEqual([
      ['local', false, 'export', 'pglite://.kpi-migrate/pglite'],
      ['dev', false, 'dynamodb', 'postgres://dev@db/kpi'],
      ['staging', false, 'export', 'postgres://st@db/kpi'],
      ['prod', true, 'dynamodb', 'postgres://prod@db/kpi'],
    ]);
    expect(resolveConfig({ configFile: file, env }).environment).toBe('local');
  });
});
