// node dist-reader-only.mjs DIST EXPORTDIR [alloc]: the record reader in this thread, no database; prints time and items
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import fs from 'node:fs';
const [dist, dir, mode] = process.argv.slice(2);
const abs = (p) => path.resolve(dist, p);
const { createExportSource } = await import(abs('src/extract/export-source.js'));
const { createRecordReader } = await import(abs('src/pipeline/record-reader.js'));
const { defaultTableNames, MIGRATED_ENTITIES } = await import(abs('src/model/entities.js'));
const source = createExportSource({ dir, tableNames: defaultTableNames() });
const reader = createRecordReader({ source, wholeTables: source, batchRows: 5000 });
let session;
if (mode === 'alloc') {
  session = new Session(); session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
}
const t0 = process.hrtime.bigint(); const c0 = process.cpuUsage();
await reader.readLookups(() => {});
let read = 0, bytes = 0;
for (const entity of MIGRATED_ENTITIES) {
  for await (const batch of reader.batches(entity, {}, { indexLinks: entity === 'GoalKpiLink', runId: '7' })) { read += batch.read; bytes += batch.prepared.encoded?.copyBytes.length ?? 0; batch.written?.(); }
}
globalThis.gc?.(); if (process.env.SNAP) { const v8 = await import('node:v8'); v8.writeHeapSnapshot(process.env.SNAP); }
const mu = process.memoryUsage(); console.log(`heapUsed ${(mu.heapUsed/1e6).toFixed(0)} MB rss ${(mu.rss/1e6).toFixed(0)} MB external ${(mu.external/1e6).toFixed(0)} MB arrayBuffers ${(mu.arrayBuffers/1e6).toFixed(0)}`);
const c = process.cpuUsage(c0); const wall = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`read ${read} bytes ${bytes} wall ${wall.toFixed(2)} s cpu ${((c.user + c.system) / 1e6).toFixed(2)} s  ${((c.user + c.system) / read).toFixed(1)} us/item`);
if (session) {
  const { profile } = await session.post('HeapProfiler.stopSampling');
  const self = new Map(); let total = 0;
  const parents = new Map(); const walk = (n, parent) => { if (parent && ['sort','join','exec','padEnd','padStart','next','push','slice'].includes(n.callFrame.functionName)) { const pk = n.callFrame.functionName + ' <- ' + parent.callFrame.functionName + ':' + (parent.callFrame.lineNumber+1) + ' ' + parent.callFrame.url.split('/').slice(-1); parents.set(pk, (parents.get(pk) ?? 0) + n.selfSize); } const cf = n.callFrame; const k = `${cf.functionName || '(anon)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`; total += n.selfSize; self.set(k, (self.get(k) ?? 0) + n.selfSize); for (const ch of n.children) walk(ch, n); };
  walk(profile.head);
  console.log(`allocated (sampled) ${(total / 1e6).toFixed(0)} MB = ${(total / read).toFixed(0)} B/item`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log((v / 1e6).toFixed(1).padStart(8), k);
  console.log('--- builtins by caller');
  for (const [k, v] of [...parents].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / 1e6).toFixed(1).padStart(8), k);
}
