// A child process of the bench: reads every legacy table of an export directory through the
// export source, as a run's extract stage does, and prints what it read. The bench measures its
// peak RSS: the extract stage's memory, without the transform's lookups or the writer's batches.
import { createExportSource } from '../src/extract/export-source.js';
import { LEGACY_ENTITIES, defaultTableNames } from '../src/model/entities.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: read-export.js EXPORT_DIR');
const source = createExportSource({ dir, tableNames: defaultTableNames() });
const started = performance.now();
let items = 0;
try {
  for (const entity of LEGACY_ENTITIES) {
    for await (const page of source.readTable(entity)) items += page.items.length;
  }
} finally {
  await source.close();
}
process.stdout.write(`${JSON.stringify({ items, seconds: (performance.now() - started) / 1000 })}\n`);
