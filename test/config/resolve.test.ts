import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EMBEDDED_DATABASE, maskedConfig, resolveConfig } from '../../src/config/resolve.js';
import { configHash, redactUrl } from '../../src/config/secrets.js';
import { MigrateError } from '../../src/errors.js';

function configFile(content: unknown): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpi-config-'));
  const file = path.join(dir, 'kpi-migrate.config.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

describe('resolveConfig', () => {
  it('defaults to the local environment and the embedded PGlite target', () => {
    const config = resolveConfig({ env: {}, overrides: { source: 'export', exportDir: 'fixtures/small/export' } });
    expect(config.environment).toBe('local');
    expect(config.target).toEqual({ databaseUrl: DEFAULT_EMBEDDED_DATABASE, schema: 'public' });
    expect(config.source).toMatchObject({ kind: 'export', dir: 'fixtures/small/export', tablePrefix: 'purposepath-' });
  });

  it('takes the target URL from DATABASE_URL, and flags over the file', () => {
    const file = configFile({
      environments: { staging: { source: { kind: 'dynamodb', region: 'eu-west-1', segments: 4 }, batchRows: 7500 } },
    });
    const config = resolveConfig({
      configFile: file,
      environment: 'staging',
      env: { DATABASE_URL: 'postgres://u:secret@db/staging' },
      overrides: { segments: 8 },
    });
    expect(config.target.databaseUrl).toBe('postgres://u:secret@db/staging');
    expect(config.source).toMatchObject({ kind: 'dynamodb', region: 'eu-west-1', segments: 8, pageLimit: 1000 });
    expect(config.batchRows).toBe(7500);
  });

  it('takes a converge run’s maxDelete from the flag, else KPI_MIGRATE_MAX_DELETE, else the file; none when unset', () => {
    const file = configFile({ environments: { staging: { maxDelete: '5%' } } });
    const resolve = (env: Record<string, string>, maxDelete?: string) =>
      resolveConfig({ configFile: file, environment: 'staging', env: { DATABASE_URL: 'postgres://db/staging', ...env }, overrides: { maxDelete } }).maxDelete;
    expect(resolve({})).toBe('5%');
    expect(resolve({ KPI_MIGRATE_MAX_DELETE: '2000' })).toBe('2000');
    expect(resolve({ KPI_MIGRATE_MAX_DELETE: '2000' }, '100%')).toBe('100%');
    expect(resolveConfig({ env: {} }).maxDelete).toBeUndefined();
    expect(() => resolveConfig({ env: {}, overrides: { maxDelete: 'lots' } })).toThrow(/maxDelete: a number of rows \(5000\) or a percentage \(25%\)/);
  });

  it('reports every problem of a config file at once, with its path', () => {
    const file = configFile({
      environments: { prod: { protected: 'yes', batchRows: -1, source: { kind: 'dynamodb', pageLimit: 0 } } },
    });
    let error: unknown;
    try {
      resolveConfig({ configFile: file, environment: 'prod', env: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MigrateError);
    const problems = (error as MigrateError).details.problems as string[];
    expect(problems.length).toBeGreaterThanOrEqual(3);
    expect(problems.join('\n')).toMatch(/environments\.prod\.protected/);
    expect(problems.join('\n')).toMatch(/environments\.prod\.batchRows/);
    expect(problems.join('\n')).toMatch(/environments\.prod\.source\.pageLimit/);
  });

  it('refuses an undefined environment and a protected one without a target', () => {
    const file = configFile({ environments: { prod: { protected: true } } });
    expect(() => resolveConfig({ configFile: file, environment: 'nope', env: {} })).toThrow(/"nope" is not defined/);
    expect(() => resolveConfig({ configFile: file, environment: 'prod', env: {} })).toThrow(/protected environment needs DATABASE_URL/);
  });

  it('keeps secrets out of the fingerprint and redacted URLs', () => {
    const config = resolveConfig({ env: { DATABASE_URL: 'postgres://u:hunter2@db/x' }, overrides: { source: 'export', exportDir: 'd' } });
    expect(redactUrl(config.target.databaseUrl)).toBe('postgres://u:*****@db/x');
    const other = resolveConfig({ env: { DATABASE_URL: 'postgres://u:other@db/x' }, overrides: { source: 'export', exportDir: 'd' } });
    expect(configHash(config)).toBe(configHash(other));
  });

  it('refuses a secret written in the file, reported with the schema’s own problems', () => {
    const file = configFile({
      environments: {
        staging: { target: { databaseUrl: 'postgres://migrator:hunter2@db/kpi' }, batchRows: 0 },
        prod: { source: { kind: 'kv', url: 'postgres://kv@db/legacy?password=hunter2' } },
      },
    });
    let error: unknown;
    try {
      resolveConfig({ configFile: file, environment: 'staging', env: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as MigrateError).code).toBe('CONFIG_INVALID');
    const problems = ((error as MigrateError).details.problems as string[]).join('\n');
    expect(problems).toMatch(/environments\.staging\.target\.databaseUrl: holds a password/);
    expect(problems).toMatch(/environments\.prod\.source\.url: holds a secret parameter \(password\)/);
    expect(problems).toMatch(/environments\.staging\.batchRows/);
    expect((error as MigrateError).message).not.toContain('hunter2');
  });

  it('accepts TLS parameters in a file’s URLs (a key file is not a secret) and prints them; sslpassword is a secret', () => {
    const tls = 'sslmode=verify-full&sslrootcert=%2Fetc%2Fkpi%2Fca.pem&sslcert=%2Fetc%2Fkpi%2Fclient.crt&sslkey=%2Fetc%2Fkpi%2Fclient.key';
    const file = configFile({
      environments: {
        staging: { source: { kind: 'kv', url: `postgres://reader@kv.example/legacy?${tls}` }, target: { databaseUrl: `postgres://migrator@db.example/kpi?${tls}` } },
      },
    });
    const withPassphrase = configFile({ environments: { prod: { target: { databaseUrl: `postgres://migrator@db.example/kpi?${tls}&sslpassword=hunter2` } } } });
    const config = resolveConfig({ configFile: file, environment: 'staging', env: {} });
    expect(config.target.databaseUrl).toBe(`postgres://migrator@db.example/kpi?${tls}`);
    expect(config.source).toMatchObject({ kind: 'kv', url: `postgres://reader@kv.example/legacy?${tls}` });
    const printed = JSON.stringify(maskedConfig(config));
    for (const parameter of ['sslmode=verify-full', 'sslrootcert=%2Fetc%2Fkpi%2Fca.pem', 'sslcert=%2Fetc%2Fkpi%2Fclient.crt', 'sslkey=%2Fetc%2Fkpi%2Fclient.key']) {
      expect(printed).toContain(parameter);
    }
    expect(() => resolveConfig({ configFile: withPassphrase, environment: 'prod', env: {} })).toThrow(/environments\.prod\.target\.databaseUrl: holds a secret parameter \(sslpassword\)/);
    expect(redactUrl(`postgres://m:pw@db/kpi?sslkey=/k.pem&sslpassword=hunter2&sslmode=require`)).toBe('postgres://m:*****@db/kpi?sslkey=%2Fk.pem&sslpassword=*****&sslmode=require');
  });

  it('takes a URL from the environment variable a file names, and says when it is not set', () => {
    const file = configFile({
      environments: {
        staging: { target: { databaseUrl: '${STAGING_DATABASE_URL}' } },
        legacy: { source: { kind: 'kv', url: '${LEGACY_KV_URL}' }, target: { databaseUrl: '${MISSING_URL}' } },
      },
    });
    const staging = resolveConfig({ configFile: file, environment: 'staging', env: { STAGING_DATABASE_URL: 'postgres://m:pw@db/staging', DATABASE_URL: 'postgres://other/x' } });
    expect(staging.target.databaseUrl).toBe('postgres://m:pw@db/staging');
    expect(() => resolveConfig({ configFile: file, environment: 'legacy', env: {} })).toThrow(
      /source\.url: \$\{LEGACY_KV_URL\} names an environment variable that is not set[\s\S]*target\.databaseUrl: \$\{MISSING_URL\}/,
    );
  });

  it('needs a config file for any environment but local: nothing else says whether it is protected', () => {
    expect(() => resolveConfig({ configFile: false, environment: 'prod', env: {} })).toThrow(/"prod" needs a config file/);
    expect(() => resolveConfig({ configFile: false, env: { KPI_MIGRATE_ENV: 'prod' } })).toThrow(/"prod" needs a config file/);
    expect(resolveConfig({ configFile: false, environment: 'local', env: {} }).environment).toBe('local');
  });

  it('masks every secret of a resolved configuration', () => {
    const config = resolveConfig({
      configFile: false,
      env: { DATABASE_URL: 'postgres://u:hunter2@db/x', KV_DATABASE_URL: 'postgresql://k:sesame99@kv/legacy' },
      overrides: { source: 'kv' },
    });
    const printed = JSON.stringify(maskedConfig(config));
    expect(printed).not.toMatch(/hunter2|sesame99/);
    expect(printed).toContain('postgres://u:*****@db/x');
    expect(printed).toContain('postgresql://k:*****@kv/legacy');
  });
});
