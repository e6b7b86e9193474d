import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, scratchDir, show } from './cli-process.js';

function writeConfig(content: unknown): { dir: string; file: string } {
  const dir = scratchDir('config');
  const file = path.join(dir, 'kpi-migrate.config.json');
  writeFileSync(file, JSON.stringify(content, null, 2));
  return { dir, file };
}

const environments = {
  local: { source: { kind: 'export', dir: 'fixtures/small/export' } },
  staging: {
    source: { kind: 'dynamodb', region: 'eu-west-1', segments: 8, maxReadUnits: 400 },
    target: { databaseUrl: '${STAGING_DATABASE_URL}', schema: 'kpi' },
    batchRows: 7500,
    sampleSize: 500,
  },
  prod: { protected: true, source: { kind: 'dynamodb', region: 'eu-west-1' } },
};

describe('kpi-migrate config', () => {
  it('reports every problem of a config file at once, with its path, and exits 2', async () => {
    const { file } = writeConfig({
      environments: {
        prod: {
          protected: 'yes',
          batchRows: -1,
          source: { kind: 'dynamodb', pageLimit: 0, segmnts: 4 },
          target: { databaseUrl: 'postgres://migrator:hunter2@db/kpi' },
        },
      },
    });
    const result = await cli(['run', '--config', file, '--env', 'prod']);
    expect(result.code, show(result)).toBe(2);
    expect(result.stdout).toBe('');
    const reported = result.stderr;
    expect(reported).toMatch(/CONFIG_INVALID: invalid config file/);
    for (const where of ['environments.prod.protected', 'environments.prod.batchRows', 'environments.prod.source.pageLimit', 'environments.prod.source', 'environments.prod.target.databaseUrl']) {
      expect(reported).toContain(`${where}:`);
    }
    expect(reported).toMatch(/segmnts/);
    expect(reported).not.toContain('hunter2');
  });

  it('prints the resolved configuration of an environment, secrets masked, flags over the file', async () => {
    const { dir } = writeConfig({ defaultEnvironment: 'local', environments });
    const env = { STAGING_DATABASE_URL: 'postgres://migrator:Sup3rSecret@db.staging:5432/kpi', AWS_SECRET_ACCESS_KEY: 'AKIAsecretvalue123' };
    const result = await cli(['config', '--env', 'staging', '--segments', '16'], { cwd: dir, env });
    expect(result.code, show(result)).toBe(0);
    const printed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(printed).toMatchObject({
      configFile: 'kpi-migrate.config.json',
      environments: ['local', 'staging', 'prod'],
      environment: 'staging',
      protected: false,
      source: { kind: 'dynamodb', region: 'eu-west-1', segments: 16, maxReadUnits: 400, pageLimit: 1000, tablePrefix: 'purposepath-' },
      target: { databaseUrl: 'postgres://migrator:*****@db.staging:5432/kpi', schema: 'kpi' },
      batchRows: 7500,
      sampleSize: 500,
    });
    expect(result.stdout + result.stderr).not.toMatch(/Sup3rSecret|AKIAsecretvalue123/);
  });

  it('takes the environment from KPI_MIGRATE_ENV, and a protected one needs a target', async () => {
    const { dir } = writeConfig({ environments });
    const result = await cli(['config'], { cwd: dir, env: { KPI_MIGRATE_ENV: 'prod' } });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/environments\.prod\.target\.databaseUrl: a protected environment needs DATABASE_URL/);
    const withTarget = await cli(['config'], { cwd: dir, env: { KPI_MIGRATE_ENV: 'prod', DATABASE_URL: 'postgres://m:pw1234@db.prod/kpi' } });
    expect(withTarget.code, show(withTarget)).toBe(0);
    expect(JSON.parse(withTarget.stdout)).toMatchObject({ environment: 'prod', protected: true, target: { databaseUrl: 'postgres://m:*****@db.prod/kpi' } });
  });

  it('names the environments a file defines when asked for another', async () => {
    const { dir } = writeConfig({ environments });
    const result = await cli(['config', '--env', 'qa'], { cwd: dir });
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/"qa" is not defined in kpi-migrate\.config\.json \(defined: local, staging, prod\)/);
  });
  it('warns of a password in --database-url or --kv-url, naming where it belongs; TLS parameters alone draw no warning', async () => {
    const password = 'flag-Pa55-7731';
    const exportDir = path.resolve('fixtures/small/export');
    const tls = 'sslmode=verify-full&sslrootcert=/etc/kpi/ca.pem&sslcert=/etc/kpi/client.crt&sslkey=/etc/kpi/client.key';
    const target = await cli(['config', '--source', 'export', '--export-dir', exportDir, '--database-url', `postgres://migrator:${password}@db.example/kpi?${tls}`]);
    expect(target.code, show(target)).toBe(0);
    expect(target.stderr).toMatch(/warning: --database-url holds a password, which other users can read in `ps` and which stays in shell history: give the URL in DATABASE_URL instead, or keep the password in PGPASSWORD/);
    const kv = await cli(['config', '--source', 'kv', '--kv-url', `postgres://reader:${password}@kv.example/legacy`], { env: { DATABASE_URL: 'postgres://migrator@db.example/kpi' } });
    expect(kv.code, show(kv)).toBe(0);
    expect(kv.stderr).toMatch(/warning: --kv-url holds a password, .* give the URL in KV_DATABASE_URL instead, or keep the password in PGPASSWORD/);
    for (const result of [target, kv]) expect(result.stdout + result.stderr).not.toContain(password);
    // The TLS file parameters are printed as given: paths, not secrets.
    expect(target.stdout).toContain('sslmode=verify-full&sslrootcert=/etc/kpi/ca.pem&sslcert=/etc/kpi/client.crt&sslkey=/etc/kpi/client.key');
    const tlsOnly = await cli(['config', '--source', 'export', '--export-dir', exportDir, '--database-url', `postgres://migrator@db.example/kpi?${tls}`]);
    expect(tlsOnly.code, show(tlsOnly)).toBe(0);
    expect(tlsOnly.stderr).not.toMatch(/warning/);
    expect(tlsOnly.stdout).toContain('sslmode=verify-full&sslrootcert=/etc/kpi/ca.pem&sslcert=/etc/kpi/client.crt&sslkey=/etc/kpi/client.key');
  });
});
