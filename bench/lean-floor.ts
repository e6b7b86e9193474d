// A child process of the bench: the floor of the language under the export path. The same export
// files, in the same process model as a run (a worker thread reads, the main thread writes), read,
// gunzipped, split into lines, parsed with JSON.parse and every attribute written as a COPY field
// to /dev/null: no checks, no mapping, no database. Prints the items it read and its seconds.
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { findTableExport } from '../src/extract/export-layout.js';
import { LEGACY_ENTITIES, defaultTableNames } from '../src/model/entities.js';

/** Lines per message to the writer: about a run's batch. */
const BATCH_LINES = 5000;

type Typed = Record<string, Record<string, unknown>>;

function fieldOf(value: Record<string, unknown>): string {
  if (typeof value.S === 'string') return value.S.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
  if (typeof value.N === 'string') return value.N;
  if (typeof value.BOOL === 'boolean') return value.BOOL ? 't' : 'f';
  if (value.NULL === true) return '\\N';
  return JSON.stringify(value).replace(/\\/g, '\\\\');
}

async function readAll(dir: string): Promise<void> {
  const tableNames = defaultTableNames();
  let lines: string[] = [];
  const flush = (): void => {
    if (lines.length > 0) parentPort!.postMessage(lines.join(''));
    lines = [];
  };
  for (const entity of LEGACY_ENTITIES) {
    const found = await findTableExport(dir, tableNames[entity]);
    for (const file of found?.files ?? []) {
      const raw = createReadStream(file.path);
      const input: Readable = file.gzip ? raw.pipe(createGunzip()) : raw;
      input.setEncoding('utf8');
      let carry = '';
      const take = (line: string): void => {
        if (line.length === 0) return;
        const item = (JSON.parse(line) as { Item: Typed }).Item;
        const fields: string[] = [];
        for (const name of Object.keys(item)) fields.push(fieldOf(item[name]!));
        lines.push(`${fields.join('\t')}\n`);
        if (lines.length >= BATCH_LINES) flush();
      };
      for await (const chunk of input as AsyncIterable<string>) {
        const text = carry + chunk;
        let start = 0;
        for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
          take(text.slice(start, end));
          start = end + 1;
        }
        carry = text.slice(start);
      }
      take(carry);
    }
  }
  flush();
}

if (isMainThread) {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: lean-floor.js EXPORT_DIR');
  const started = performance.now();
  const out = createWriteStream('/dev/null');
  let items = 0;
  const worker = new Worker(new URL(import.meta.url), { workerData: dir });
  worker.on('message', (text: string) => {
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) items += 1;
    out.write(Buffer.from(text, 'utf8'));
  });
  const [code] = (await once(worker, 'exit')) as [number];
  out.end();
  await once(out, 'finish');
  if (code !== 0) throw new Error(`lean floor reader exited ${code}`);
  process.stdout.write(`${JSON.stringify({ items, seconds: (performance.now() - started) / 1000 })}\n`);
} else {
  await readAll(workerData as string);
}
