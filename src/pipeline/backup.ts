import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../config/resolve.js';
import { MigrateError } from '../errors.js';
import { createExportSource } from '../extract/export-source.js';
import { writeDynamoDbExport, type AttributeMap, type ExportLayout, type SourceManifest } from '../extract/export-writer.js';
import type { LegacySource, SourceKind } from '../model/source.js';
import { LEGACY_ENTITIES, defaultTableNames, type LegacyEntity, type TableNames } from '../model/entities.js';
import { toAttributeMap } from '../extract/dynamodb-json.js';
import { openConfiguredSource } from '../reading/open-source.js';
import { unreadableProblemOf } from '../model/unreadable.js';

export interface BackupOptions {
  /** A directory that does not exist yet, or is empty. */
  out: string;
  /** The table name each entity's files are written under (and read back by `--source export`). */
  tableNames: TableNames;
  /** `flat` (`<table>/part-NNNNN.json.gz`, the default) or the Export-to-S3 layout with its md5 manifests. */
  layout?: ExportLayout;
  /** Items per data file; default 100,000. */
  itemsPerFile?: number;
  /** Called after each source page with the items of that entity written so far. */
  onProgress?: (entity: LegacyEntity, items: number) => void;
}

export interface BackupResult {
  out: string;
  sourceKind: SourceKind;
  /** manifest.json as written: item count per table, bytes and sha256 per file. */
  manifest: SourceManifest;
  /** Items per entity, written and counted again in the files once they were complete. */
  items: Record<LegacyEntity, number>;
}

/**
 * Copies every legacy table of a source, whatever its kind, into DynamoDB export files (gzip,
 * one `{"Item": …}` per line, numbers as their text) with a manifest.json, and reads the files
 * back to count them. The files appear under `out` only once complete: they are written into a
 * sibling directory and renamed, so a backup that died halfway never looks like a backup.
 */
export async function backupSource(source: LegacySource, options: BackupOptions): Promise<BackupResult> {
  const out = path.resolve(options.out);
  const names = LEGACY_ENTITIES.map((entity) => options.tableNames[entity]);
  if (new Set(names).size !== names.length) throw new MigrateError('USAGE', `two legacy tables would share files: ${names.join(', ')}`);
  await assertEmptyOrAbsent(out);
  await mkdir(path.dirname(out), { recursive: true });
  const partial = await mkdtemp(`${out}.partial-`);
  let complete = false;
  // The writer reports a failed stream as a write failure; the source's own error says more.
  let sourceFailure: unknown;
  try {
    const written: Partial<Record<LegacyEntity, number>> = {};
    const itemsOf = async function* (entity: LegacyEntity): AsyncGenerator<AttributeMap> {
      let items = 0;
      try {
        for await (const page of source.readTable(entity)) {
          for (const item of page.items) {
            // Written as an item, the record's wrapper would pass for a different, readable record.
            const unreadable = unreadableProblemOf(item);
            if (unreadable !== undefined) {
              throw new MigrateError('SOURCE_CORRUPT', `${unreadable.attribute}: ${unreadable.message}: a backup holds DynamoDB JSON items, and this record is none`, {
                details: { entity, sourceId: typeof item.Id === 'string' ? item.Id : null },
              });
            }
            yield toAttributeMap(item);
          }
          items += page.items.length;
          options.onProgress?.(entity, items);
        }
      } catch (error) {
        sourceFailure = error;
        throw error;
      }
      written[entity] = items;
    };
    const manifest = await writeDynamoDbExport(
      partial,
      LEGACY_ENTITIES.map((entity) => ({ table: options.tableNames[entity], items: itemsOf(entity), layout: options.layout ?? 'flat' })),
      { exportTime: new Date(), ...(options.itemsPerFile === undefined ? {} : { itemsPerFile: options.itemsPerFile }) },
    );
    const items = await countBackAgainst(partial, options.tableNames, written);
    complete = true;
    await rename(partial, out).catch((error: unknown) => {
      throw new MigrateError('USAGE', `the backup is complete in ${partial}, but it cannot take the name ${out}: ${(error as Error).message}`, {
        cause: error,
      });
    });
    return { out, sourceKind: source.kind, manifest, items };
  } catch (error) {
    // Only the directory this call created is removed, and never a complete backup.
    if (!complete) await rm(partial, { recursive: true, force: true });
    throw sourceFailure ?? error;
  }
}

/** Opens the configured source, backs it up, and closes it. */
export async function backupConfiguredSource(config: ResolvedConfig, options: Omit<BackupOptions, 'tableNames'> & { tablePrefix?: string }): Promise<BackupResult> {
  const source = await openConfiguredSource(config);
  try {
    return await backupSource(source, { ...options, tableNames: backupTableNames(config, options.tablePrefix) });
  } finally {
    await source.close();
  }
}

/**
 * The table names of the backup: the source's own for DynamoDB and export files (so the same
 * `--table-prefix` / `--table` flags read it back); a kv_store has key prefixes, not table names,
 * so its backup takes the default names (or `tablePrefix`).
 */
export function backupTableNames(config: ResolvedConfig, tablePrefix?: string): TableNames {
  const source = config.source;
  if (source === undefined || source.kind === 'kv') return defaultTableNames(tablePrefix);
  return defaultTableNames(source.tablePrefix, source.tables);
}

async function assertEmptyOrAbsent(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new MigrateError('USAGE', `backup directory ${dir} cannot be used: ${(error as Error).message}`, { cause: error });
  }
  if (entries.length > 0) throw new MigrateError('USAGE', `backup directory ${dir} is not empty: a backup never mixes with other files`);
}

/** The files hold what was read: counted again through the export reader that will restore them. */
async function countBackAgainst(dir: string, tableNames: TableNames, written: Partial<Record<LegacyEntity, number>>): Promise<Record<LegacyEntity, number>> {
  const reader = createExportSource({ dir, tableNames });
  const items = {} as Record<LegacyEntity, number>;
  const problems: string[] = [];
  try {
    for (const entity of LEGACY_ENTITIES) {
      const counted = await reader.countItems(entity);
      items[entity] = counted;
      if (counted !== written[entity]) problems.push(`${tableNames[entity]}: read ${written[entity] ?? 0} item(s) from the source, the files hold ${counted}`);
    }
  } finally {
    await reader.close();
  }
  if (problems.length > 0) throw new MigrateError('INTERNAL', `the backup does not hold what was read:\n  ${problems.join('\n  ')}`);
  return items;
}
