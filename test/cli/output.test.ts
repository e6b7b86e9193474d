import { afterEach, describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/cli/output.js';

const saved = { ...process.env };
afterEach(() => {
  for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
  Object.assign(process.env, saved);
});

describe('redactSecrets', () => {
  it('masks the password of any URL, and key=value secrets', () => {
    expect(redactSecrets('cannot reach postgres://migrator:hunter2@db:5432/kpi (postgresql://a:b%40c@x/y)')).toBe(
      'cannot reach postgres://migrator:*****@db:5432/kpi (postgresql://a:*****@x/y)',
    );
    expect(redactSecrets('{"password":"letmein", aws_secret_access_key = abc123}')).toBe('{"password":"*****", aws_secret_access_key = *****}');
  });

  it('masks the values of the environment’s secrets wherever they appear, as written, decoded or JSON-escaped', () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG';
    process.env.AWS_SESSION_TOKEN = 'FwoGZXIvYXdzE"quoted"';
    process.env.DATABASE_URL = 'postgres://m:p%40ss-w0rd@db/kpi';
    process.env.STAGING_DB_PASSWORD = 'staging-only-secret';
    process.env.FEATURE_TOKEN = 'true';
    const text = [
      'key wJalrXUtnFEMI/K7MDENG',
      JSON.stringify({ token: 'FwoGZXIvYXdzE"quoted"' }),
      'auth failed for p@ss-w0rd and p%40ss-w0rd',
      'staging-only-secret',
      'a flag stays true',
    ].join('\n');
    expect(redactSecrets(text)).toBe(['key *****', '{"token":"*****"}', 'auth failed for ***** and *****', '*****', 'a flag stays true'].join('\n'));
  });
});
