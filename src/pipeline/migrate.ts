import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ResolvedConfig } from '../config/resolve.js';
import { configHash, redactUrl } from '../config/resolve.js';
import { openSqlClient } from '../load/open.js';
import type { RunCounts } from '../load/index.js';
import { packageRoot } from '../package-root.js';
import { MIGRATED_ENTITIES } from '../transform/entities.js';
import { openConfiguredSource } from './open-source.js';
import { runMigration, type RunResult } from './run.js';
import type { ProgressSink } from './progress.js';

export interface MigrateOptions {
  resume?: string | 'last';
  tenant?: string;
  dryRun?: boolean;
  progress?: ProgressSink;
}

export interface MigrateResult extends RunResult {
  environment: string;
  target: string;
  /** read = migrated + rejected + skipped for every migrated table (contract §4). */
  accountingBalanced: boolean;
  unbalanced: string[];
  dryRun: boolean;
}

export const codeVersion: string = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

export function unbalancedEntities(counts: RunCounts): string[] {
  const problems: string[] = [];
  for (const entity of MIGRATED_ENTITIES) {
    const c = counts.entities[entity];
    if (c === undefined) continue;
    if (c.read !== c.migrated + c.rejected + c.skipped) {
      problems.push(`${entity}: read ${c.read} ≠ migrated ${c.migrated} + rejected ${c.rejected} + skipped ${c.skipped}`);
    }
  }
  return problems;
}

/** Opens the configured source and target, runs (or resumes) one migration, and closes both. */
export async function migrate(config: ResolvedConfig, options: MigrateOptions = {}): Promise<MigrateResult> {
  const sql = await openSqlClient(config.target.databaseUrl);
  try {
    const source = await openConfiguredSource(config);
    try {
      const result = await runMigration({
        source,
        sql,
        targetSchema: config.target.schema,
        environment: config.environment,
        batchRows: config.batchRows,
        tenant: options.tenant?.toLowerCase().replace(/[{}]/g, ''),
        dryRun: options.dryRun ?? false,
        resume: options.resume,
        ledgerOptions: { source: { ...config.source, ...(config.source?.kind === 'kv' && config.source.url ? { url: redactUrl(config.source.url) } : {}) }, tenant: options.tenant ?? null, batchRows: config.batchRows },
        codeVersion,
        configHash: configHash(config),
        progress: options.progress,
      });
      const unbalanced = unbalancedEntities(result.counts);
      return {
        ...result,
        environment: config.environment,
        target: redactUrl(config.target.databaseUrl),
        accountingBalanced: unbalanced.length === 0,
        unbalanced,
        dryRun: options.dryRun ?? false,
      };
    } finally {
      await source.close();
    }
  } finally {
    await sql.close();
  }
}
