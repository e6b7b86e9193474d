// `npm run bench`: the export and DynamoDB paths measured against the physical limit, side by
// side, in one run. Prints a table of figures and ratios and writes them as JSON to bench/results/.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/package-root.js';
import { seed } from '../src/seed/index.js';
import { measureCeiling, renderTargetRows, type RenderedRows } from './ceiling.js';
import { measureDynamoDbRun, measureRawScan, startLoadedDynamoDb, stopDynamoDb } from './dynamodb-path.js';
import { measureSync, type SyncFigures } from './sync-path.js';
import { measureExportRound, measureExportRun, measureLeanFloor, validateAvailable, type ExportRound, type LeanFloorFigures } from './export-path.js';
import { measureNaiveBaseline } from './naive-baseline.js';
import { measureExtractMemory, type ExtractMemoryFigures } from './extract-memory.js';
import { writeChangedExport } from './changed-state.js';
import { measureExportSync, type ExportSyncFigures } from './sync-exports-path.js';
import { BenchDatabases } from './postgres.js';
import { median, megabytes, rate, renderMarkdown, renderText, seconds, times, type FigureLine } from './report.js';

const { values: flags } = parseArgs({
  options: {
    items: { type: 'string', default: '200000' },
    repeat: { type: 'string', default: '3' },
    'database-url': { type: 'string' },
    'dynamodb-items': { type: 'string', default: '50000' },
    'naive-rows': { type: 'string', default: '20000' },
    segments: { type: 'string', default: '4' },
    'page-limit': { type: 'string', default: '1000' },
    'memory-scale': { type: 'string', default: '10' },
    'extract-items': { type: 'string', default: '1000000' },
    'dynamodb-heap-mb': { type: 'string', default: '2048' },
    'skip-dynamodb': { type: 'boolean', default: false },
    only: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

const USAGE = `npm run bench -- [options]

  --items N            legacy fact records of the data set (default 200000)
  --repeat N           runs of each measurement; figures are medians (default 3)
  --database-url URL   PostgreSQL to create throw-away databases on (default $BENCH_DATABASE_URL,
                       else postgres://postgres@127.0.0.1:5432/postgres)
  --dynamodb-items N   fact records loaded into DynamoDB Local for the DynamoDB path and the sync
                       (default 50000)
  --naive-rows N       rows of the one-INSERT-per-row baseline (default 20000, scaled)
  --segments N         scan segments, for the raw Scan and the tool alike (default 4)
  --page-limit N       Scan page Limit, for both (default 1000, the tool's default)
  --memory-scale N     peak RSS is also measured at N × --items (default 10; 0 skips it)
  --extract-items N    fact records of the export whose extract alone is measured (peak RSS of
                       reading every table through the export source; default 1000000)
  --dynamodb-heap-mb N DynamoDB Local's JVM heap (default 2048)
  --skip-dynamodb      leave out the DynamoDB path (no Java)
  --only PARTS         measure only these, comma-separated: export (with ceiling and naive, which
                       load its rows), dynamodb, sync (DynamoDB Streams: changes applied per
                       second after a full run), sync-export (sync from incremental exports),
                       memory, extract

The sync part loads the tables first and enables their streams after, as the runbook has the
operator do. Loading through the streams is not an option: in DynamoDB Local each write to a
table with a stream runs a query over every stream record the instance holds, so such a load
slows down as it goes (40,000 items took 281 s and were going at 53 items/s). Its first sync
therefore reads the source image and finds the streams empty (the part used to load through the
streams and replay the whole load there), and the sync it times applies every 10th fact
rewritten after the first.`;

function whole(name: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}, got ${value}`);
  return n;
}

const say = (text: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
};

async function main(): Promise<void> {
  // The pinned AWS SDK supports Node 20; its notice about later releases is noise in the bench output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const options = {
    items: whole('items', flags.items, 100),
    repeat: whole('repeat', flags.repeat, 1),
    databaseUrl: flags['database-url'] ?? process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    dynamodbItems: whole('dynamodb-items', flags['dynamodb-items'], 100),
    naiveRows: whole('naive-rows', flags['naive-rows'], 100),
    segments: whole('segments', flags.segments, 1),
    pageLimit: whole('page-limit', flags['page-limit'], 1),
    memoryScale: whole('memory-scale', flags['memory-scale'], 0),
    extractItems: whole('extract-items', flags['extract-items'], 100),
    dynamodbHeapMb: whole('dynamodb-heap-mb', flags['dynamodb-heap-mb'], 256),
    dynamodb: !flags['skip-dynamodb'],
    parts: new Set((flags.only ?? 'export,dynamodb,sync,sync-export,memory,extract').split(',').map((part) => part.trim())),
  };
  for (const part of options.parts) {
    if (!['export', 'dynamodb', 'sync', 'sync-export', 'memory', 'extract'].includes(part)) throw new Error(`--only: unknown part ${part} (export, dynamodb, sync, sync-export, memory, extract)`);
  }
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const work = await mkdtemp(path.join(tmpdir(), 'kpi-migrate-bench-'));
  const databases = new BenchDatabases(options.databaseUrl);
  try {
    const postgresVersion = await databases.serverVersion();
    say(`PostgreSQL ${postgresVersion}, ${cpus().length} cores, load average ${loadAtStart.map((n) => n.toFixed(2)).join(' ')}; work in ${work}`);

    const exportDir = path.join(work, 'export');
    if (options.parts.has('export') || options.parts.has('memory')) {
      say(`seeding ${options.items.toLocaleString('en-US')} fact records as DynamoDB export files`);
      await seed({ items: options.items, seed: 1, out: exportDir, format: 'export' });
    }
    const changedDir = path.join(work, 'export-changed');
    if (options.parts.has('export')) {
      const { records, changed } = await writeChangedExport(exportDir, changedDir);
      say(`state B for the converge run: ${changed.toLocaleString('en-US')} of ${records.toLocaleString('en-US')} records changed (deleted or edited)`);
    }

    const validate = options.parts.has('export') && (await validateAvailable());
    if (options.parts.has('export') && !validate) say('`kpi-migrate validate` is not in this build: its rows are printed as not available');
    let rendered: RenderedRows | undefined;
    const rounds: ExportRound[] = [];
    const ceilings: { seconds: number; rows: number }[] = [];
    const naive: { seconds: number; rows: number }[] = [];
    const leanFloors: LeanFloorFigures[] = [];
    // The default-size peak RSS comes from these rounds: `--only memory` runs one of them.
    const exportRounds = options.parts.has('export') ? options.repeat : options.parts.has('memory') ? 1 : 0;
    // Each round measures the run and, right after it, the ceiling and the baseline: on a machine
    // whose load changes, a ratio of figures taken minutes apart would measure the load.
    for (let round = 1; round <= exportRounds; round++) {
      say(`export path, round ${round}/${exportRounds}: run, re-run${validate ? ', validate, validate --full' : ''}`);
      rounds.push(
        await measureExportRound(exportDir, databases, {
          validate,
          reportDir: work,
          changedDir: options.parts.has('export') ? changedDir : undefined,
          // The first run's rows, rendered once, are what the ceiling and the baseline load.
          keep: rendered === undefined ? async (url) => void (rendered = await renderTargetRows(url, work)) : undefined,
        }),
      );
      const last = rounds.at(-1)!;
      say(`  run ${seconds(last.run.seconds)}, ${last.run.targetRows.toLocaleString('en-US')} rows, ${last.run.nodeCpuMicrosPerItem.toFixed(1)} µs CPU per item, peak RSS ${megabytes(last.run.peakRssBytes)}; re-run ${seconds(last.rerun.seconds)}` + (last.converge ? `; converge of state B ${seconds(last.converge.seconds)} (${last.converge.rowsWritten.toLocaleString('en-US')} rows written)` : ''));
      const renderedRows = rendered as RenderedRows | undefined;
      if (renderedRows === undefined || !options.parts.has('export')) continue;
      say(`  ceiling: COPY of ${renderedRows.rows.toLocaleString('en-US')} rendered rows; naive baseline: one INSERT per row, ${options.naiveRows.toLocaleString('en-US')} rows`);
      ceilings.push(await measureCeiling(renderedRows, databases));
      naive.push(await measureNaiveBaseline(renderedRows, databases, options.naiveRows));
      leanFloors.push(await measureLeanFloor(exportDir));
      say(`  lean floor: ${leanFloors.at(-1)!.cpuMicrosPerItem.toFixed(1)} µs CPU per item, ${seconds(leanFloors.at(-1)!.seconds)}`);
    }
    const renderedRows = rendered as RenderedRows | undefined;

    // A part that fails is reported as failed in the table: the figures measured before it stand.
    const failures: Record<string, string> = {};
    const attempt = async (part: string, measure: () => Promise<void>): Promise<void> => {
      try {
        await measure();
      } catch (error) {
        failures[part] = error instanceof Error ? error.message.split('\n')[0]! : String(error);
        say(`${part} FAILED: ${error instanceof Error ? error.message : String(error)}`);
      }
    };

    let dynamodb: { raw: { seconds: number; items: number }[]; tool: { seconds: number; items: number; peakRssBytes: number }[]; loadSeconds: number } | undefined;
    if (options.dynamodb && options.parts.has('dynamodb')) {
      await attempt('dynamodb', async () => {
        say(`DynamoDB Local: loading ${options.dynamodbItems.toLocaleString('en-US')} fact records (and their lookups and links)`);
        const setup = await startLoadedDynamoDb(options.dynamodbItems, options.dynamodbHeapMb);
        try {
          const measured = { raw: [] as { seconds: number; items: number }[], tool: [] as { seconds: number; items: number; peakRssBytes: number }[], loadSeconds: setup.loadSeconds };
          for (let round = 1; round <= options.repeat; round++) {
            say(`DynamoDB path, round ${round}/${options.repeat}: raw Scan, then run --source dynamodb (${options.segments} segments, Limit ${options.pageLimit})`);
            measured.raw.push(await measureRawScan(setup, options.segments, options.pageLimit));
            measured.tool.push(await measureDynamoDbRun(setup, databases, options.segments, options.pageLimit));
          }
          dynamodb = measured;
        } finally {
          await stopDynamoDb(setup);
        }
      });
    }

    let sync: SyncFigures | undefined;
    if (options.dynamodb && options.parts.has('sync')) {
      await attempt('sync', async () => {
        say(`sync: DynamoDB Local, ${options.dynamodbItems.toLocaleString('en-US')} facts loaded, then streams enabled: run, first sync, then every 10th fact rewritten and synced`);
        const figures = await measureSync(options.dynamodbItems, options.dynamodbHeapMb, databases);
        sync = figures;
        say(
          `  load ${seconds(figures.load.seconds)} (${figures.load.items.toLocaleString('en-US')} items); run ${seconds(figures.run.seconds)}; ` +
            `first sync ${seconds(figures.firstSync.seconds)} (image of ${figures.firstSync.imageItems.toLocaleString('en-US')} records, ${figures.firstSync.changes.toLocaleString('en-US')} changes); ` +
            `updates written ${seconds(figures.updates.seconds)}; sync ${seconds(figures.sync.seconds)} (${figures.sync.changes.toLocaleString('en-US')} changes, ${figures.sync.rowsUpdated.toLocaleString('en-US')} rows updated)`,
        );
      });
    }

    let scaled: { items: number; peakRssBytes: number; seconds: number; targetRows: number } | undefined;
    if (options.memoryScale > 0 && options.parts.has('memory')) {
      await attempt('memory', async () => {
        const items = options.items * options.memoryScale;
        say(`memory: seeding ${items.toLocaleString('en-US')} fact records (${options.memoryScale} ×)`);
        const bigDir = path.join(work, 'export-scaled');
        try {
          await seed({ items, seed: 1, out: bigDir, format: 'export' });
          const databaseUrl = await databases.create('memory');
          try {
            say(`memory: run --source export at ${options.memoryScale} ×`);
            scaled = { items, ...(await measureExportRun(bigDir, databaseUrl)) };
          } finally {
            await databases.drop(databaseUrl);
          }
        } finally {
          await rm(bigDir, { recursive: true, force: true });
        }
      });
    }

    let extract: ExtractMemoryFigures | undefined;
    if (options.parts.has('extract')) {
      await attempt('extract', async () => {
        const dir = path.join(work, 'export-extract');
        try {
          say(`extract: seeding ${options.extractItems.toLocaleString('en-US')} fact records, then reading every table through the export source`);
          extract = await measureExtractMemory(options.extractItems, dir);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    }

    let exportSync: ExportSyncFigures | undefined;
    if (options.parts.has('sync-export')) {
      await attempt('sync-export', async () => {
        say(`sync-export: incremental exports taking ${options.items.toLocaleString('en-US')} fact records to 1% changed, after a run of their full export`);
        const figures = await measureExportSync(options.items, work, databases);
        exportSync = figures;
        say(`  sync ${seconds(figures.syncSeconds)} for ${figures.changes.toLocaleString('en-US')} changes (image ${seconds(figures.imageSeconds)} before it); run ${seconds(figures.runSeconds)} for ${figures.runRecords.toLocaleString('en-US')} records`);
      });
    }

    const validateMissing = options.parts.has('export') && !validate;
    const result = summarize({ options, rounds, ceilings, naive, leanFloors, dynamodb, sync, exportSync, scaled, extract, rendered: renderedRows, failures, validateMissing });
    const finishedAt = new Date();
    const document = {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      elapsedSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, postgres: postgresVersion, loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadavg() },
      options: { ...options, databaseUrl: undefined },
      figures: result.figures,
      raw: { rounds, ceilings, naive, leanFloors, dynamodb, sync, exportSync, scaled, extract, failures },
      table: result.lines,
    };
    const resultsDir = path.join(packageRoot, 'bench', 'results');
    await mkdir(resultsDir, { recursive: true });
    const file = path.join(resultsDir, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, `${JSON.stringify(document, null, 2)}\n`);
    process.stdout.write(`\n${renderText(result.lines)}\n\n`);
    process.stdout.write(`Markdown (README "Performance"):\n\n${renderMarkdown(result.lines)}\n\n`);
    process.stdout.write(
      `${options.repeat} round(s), medians; ${cpus().length} cores; load average ${loadAtStart.map((n) => n.toFixed(2)).join(' ')} at start, ` +
        `${loadavg().map((n) => n.toFixed(2)).join(' ')} at end; ${document.elapsedSeconds.toFixed(0)} s in all.\nJSON: ${path.relative(packageRoot, file)}\n`,
    );
  } finally {
    await databases.dropAll();
    await rm(work, { recursive: true, force: true });
  }
}

interface Measured {
  options: { items: number; repeat: number; naiveRows: number; segments: number; pageLimit: number; memoryScale: number; dynamodbItems: number; extractItems: number };
  rounds: ExportRound[];
  ceilings: { seconds: number; rows: number }[];
  naive: { seconds: number; rows: number }[];
  leanFloors: LeanFloorFigures[];
  dynamodb?: { raw: { seconds: number; items: number }[]; tool: { seconds: number; items: number; peakRssBytes: number }[] };
  sync?: SyncFigures;
  scaled?: { items: number; peakRssBytes: number; seconds: number; targetRows: number };
  extract?: ExtractMemoryFigures;
  exportSync?: ExportSyncFigures;
  rendered: RenderedRows | undefined;
  failures: Record<string, string>;
  /** The build has no `validate` command (not: validation was not asked for). */
  validateMissing: boolean;
}

/** Sync from incremental exports: changes applied per second, beside the same data set's run (records read per second). */
function exportSyncLines(measured: Measured): FigureLine[] {
  const sync = measured.exportSync;
  if (sync === undefined) return [{ measurement: 'sync from incremental exports', figure: measured.failures['sync-export'] ? `FAILED: ${measured.failures['sync-export']}` : 'not measured' }];
  const runRate = sync.runRecords / sync.runSeconds;
  return [
    {
      measurement: `run of the full export before the sync (${sync.runRecords.toLocaleString('en-US')} records)`,
      figure: `${seconds(sync.runSeconds)} (${rate(runRate, 'records')})`,
    },
    { measurement: 'first sync of the run: its source image read (once per run), no window', figure: seconds(sync.imageSeconds), ratio: times(sync.imageSeconds / sync.runSeconds, 'run') },
    {
      measurement: `sync from incremental exports: 2 windows, ${sync.changes.toLocaleString('en-US')} changes (${sync.changedRecords.toLocaleString('en-US')} records changed)`,
      figure: `${seconds(sync.syncSeconds)} (${rate(sync.changes / sync.syncSeconds, 'changes')})`,
      ratio: times(sync.changes / sync.syncSeconds / runRate, 'run records/s'),
    },
  ];
}

function summarize(measured: Measured) {
  const { options, rounds } = measured;
  const rows = measured.rendered?.rows ?? Number.NaN;
  const ceilingRate = median(measured.ceilings.map((c) => c.rows / c.seconds));
  const runSeconds = median(rounds.map((r) => r.run.seconds));
  const exportRate = median(rounds.map((r) => r.run.targetRows / r.run.seconds));
  const naiveRate = median(measured.naive.map((n) => n.rows / n.seconds));
  const rerunSeconds = median(rounds.map((r) => r.rerun.seconds));
  // Ratios are taken within a round (figures measured minutes apart) and their median reported.
  const perRound = (ratio: (round: ExportRound, at: number) => number): number => median(rounds.map(ratio).filter(Number.isFinite));
  const exportToCeiling = perRound((r, at) => r.run.targetRows / r.run.seconds / (measured.ceilings[at] ? measured.ceilings[at].rows / measured.ceilings[at].seconds : Number.NaN));
  const exportToNaive = perRound((r, at) => r.run.targetRows / r.run.seconds / (measured.naive[at] ? measured.naive[at].rows / measured.naive[at].seconds : Number.NaN));
  const rerunToRun = perRound((r) => r.rerun.seconds / r.run.seconds);
  const convergeToRun = perRound((r) => (r.converge?.seconds ?? Number.NaN) / r.run.seconds);
  const convergeSeconds = median(rounds.filter((r) => r.converge !== undefined).map((r) => r.converge!.seconds));
  const convergeWritten = median(rounds.filter((r) => r.converge !== undefined).map((r) => r.converge!.rowsWritten));
  const sampleToRun = perRound((r) => (r.validateSample?.seconds ?? Number.NaN) / r.run.seconds);
  const fullToRun = perRound((r) => (r.validateFull?.seconds ?? Number.NaN) / r.run.seconds);
  const rerunWritten = rounds.length > 0 ? Math.max(...rounds.map((r) => r.rerun.rowsWritten)) : Number.NaN;
  // A ratio that could not be formed (a part not measured) meets no target and fails none.
  const judged = (ratio: number, met: boolean): boolean | undefined => (Number.isFinite(ratio) ? met : undefined);
  const validated = rounds.every((r) => r.validateSample !== undefined);
  const sampleSeconds = validated ? median(rounds.map((r) => r.validateSample!.seconds)) : Number.NaN;
  const fullSeconds = validated ? median(rounds.map((r) => r.validateFull!.seconds)) : Number.NaN;
  const validationFailed = rounds.some((r) => r.validateSample?.exitCode === 1 || r.validateFull?.exitCode === 1);
  const defaultRss = median(rounds.map((r) => r.run.peakRssBytes));
  const rawRate = measured.dynamodb ? median(measured.dynamodb.raw.map((r) => r.items / r.seconds)) : Number.NaN;
  const toolRate = measured.dynamodb ? median(measured.dynamodb.tool.map((r) => r.items / r.seconds)) : Number.NaN;
  const toolToRaw = measured.dynamodb
    ? median(measured.dynamodb.tool.map((r, at) => r.items / r.seconds / (measured.dynamodb!.raw[at]!.items / measured.dynamodb!.raw[at]!.seconds)))
    : Number.NaN;
  const scaledRss = measured.scaled?.peakRssBytes ?? Number.NaN;
  const mb = 1024 * 1024;
  const cpuPerItem = median(rounds.map((r) => r.run.nodeCpuMicrosPerItem).filter(Number.isFinite));
  const floorPerItem = median(measured.leanFloors.map((f) => f.cpuMicrosPerItem));
  const floorRate = median(measured.leanFloors.map((f) => f.items / f.seconds));
  const exportItemRate = median(rounds.map((r) => r.run.itemsRead / r.run.seconds));

  const lines: FigureLine[] = [
    measured.ceilings.length > 0
      ? { measurement: `ceiling: COPY of the ${rows.toLocaleString('en-US')} rendered target rows`, figure: rate(ceilingRate, 'rows') }
      : { measurement: 'ceiling: COPY of the rendered target rows', figure: 'not measured' },
    {
      measurement: `export path: run --source export (${options.items.toLocaleString('en-US')} facts)`,
      figure: `${rate(exportRate, 'rows')} (${seconds(runSeconds)})`,
      ratio: times(exportToCeiling, 'ceiling'),
      target: '≥ 0.6',
      met: judged(exportToCeiling, exportToCeiling >= 0.6),
    },
    { measurement: '', figure: '', ratio: times(exportToNaive, 'naive') },
    {
      measurement: 'Node CPU per source item of the run (whole process, all threads)',
      figure: Number.isFinite(cpuPerItem) ? `${cpuPerItem.toFixed(1)} µs (${rate(exportItemRate, 'items')})` : 'not measured',
      ratio: times(cpuPerItem / floorPerItem, 'lean floor'),
      target: '≤ 30 µs',
      met: Number.isFinite(cpuPerItem) ? cpuPerItem <= 30 : undefined,
    },
    {
      measurement: 'lean floor: the same files gunzipped, split, JSON.parse, COPY text to /dev/null (reader thread + writer thread)',
      figure: measured.leanFloors.length > 0 ? `${floorPerItem.toFixed(1)} µs per item (${rate(floorRate, 'items')})` : 'not measured',
    },
    {
      measurement: `naive: one INSERT per row, autocommit (${options.naiveRows.toLocaleString('en-US')} rows)`,
      figure: `${rate(naiveRate, 'rows')} (${seconds(rows / naiveRate)} scaled to all rows)`,
    },
    measured.dynamodb
      ? { measurement: `DynamoDB Local raw Scan (${options.segments} segments, Limit ${options.pageLimit})`, figure: rate(rawRate, 'items') }
      : { measurement: 'DynamoDB Local raw Scan', figure: 'not measured' },
    measured.dynamodb
      ? {
          measurement: `DynamoDB path: run --source dynamodb (${options.dynamodbItems.toLocaleString('en-US')} facts)`,
          figure: rate(toolRate, 'items'),
          ratio: times(toolToRaw, 'raw Scan'),
          target: '≥ 0.4',
          met: judged(toolToRaw, toolToRaw >= 0.4),
        }
      : { measurement: 'DynamoDB path: run --source dynamodb', figure: measured.failures.dynamodb ? `FAILED: ${measured.failures.dynamodb}` : 'not measured' },
    measured.sync
      ? {
          measurement:
            `sync from DynamoDB Streams: ${measured.sync.sync.changes.toLocaleString('en-US')} fact updates, ${measured.sync.sync.rowsUpdated.toLocaleString('en-US')} rows updated ` +
            `(first sync: image of ${measured.sync.firstSync.imageItems.toLocaleString('en-US')} records, ${measured.sync.firstSync.changes.toLocaleString('en-US')} changes, ${seconds(measured.sync.firstSync.seconds)}; ` +
            `run ${seconds(measured.sync.run.seconds)})`,
          figure: `${rate(measured.sync.sync.changes / measured.sync.sync.seconds, 'changes')} (${seconds(measured.sync.sync.seconds)})`,
          ratio: times(measured.sync.sync.changes / measured.sync.sync.seconds / (measured.sync.run.items / measured.sync.run.seconds), 'run items/s'),
        }
      : { measurement: 'sync from DynamoDB Streams', figure: measured.failures.sync ? `FAILED: ${measured.failures.sync}` : 'not measured' },
    {
      measurement: `re-run (nothing changes${rerunWritten === 0 ? ': 0 rows written' : Number.isNaN(rerunWritten) ? '' : `: ${rerunWritten} ROWS WRITTEN`})`,
      figure: seconds(rerunSeconds),
      ratio: times(rerunToRun, 'run'),
      target: '≤ 0.6',
      met: judged(rerunToRun, rerunToRun <= 0.6),
    },
    {
      measurement: `converge run of state B (1% of records changed${Number.isNaN(convergeWritten) ? '' : `: ${convergeWritten.toLocaleString('en-US')} rows written`})`,
      figure: Number.isNaN(convergeSeconds) ? 'not measured' : seconds(convergeSeconds),
      ratio: times(convergeToRun, 'run'),
      target: '≤ 1.2',
      met: judged(convergeToRun, convergeToRun <= 1.2),
    },
    ...finalizeLines(rounds, runSeconds),
    validated
      ? {
          measurement: `validate: counts + sample of 1,000${validationFailed ? ' (A CHECK FAILED)' : ''}`,
          figure: seconds(sampleSeconds),
          ratio: times(sampleToRun, 'run'),
          target: '≤ 0.5',
          met: judged(sampleToRun, sampleToRun <= 0.5),
        }
      : { measurement: 'validate: counts + sample of 1,000', figure: measured.validateMissing ? 'not available (no validate command in this build)' : 'not measured' },
    validated
      ? { measurement: 'validate --full', figure: seconds(fullSeconds), ratio: times(fullToRun, 'run'), target: '≤ 0.7', met: judged(fullToRun, fullToRun <= 0.7) }
      : { measurement: 'validate --full', figure: measured.validateMissing ? 'not available (no validate command in this build)' : 'not measured' },
    {
      measurement: `peak RSS of the run, ${options.items.toLocaleString('en-US')} facts`,
      figure: megabytes(defaultRss),
      target: '≤ 250 MB',
      met: Number.isFinite(defaultRss) && defaultRss > 0 ? defaultRss <= 250 * mb : undefined,
    },
    measured.scaled
      ? {
          measurement: `peak RSS of the run, ${measured.scaled.items.toLocaleString('en-US')} facts (${options.memoryScale} ×)`,
          figure: `${megabytes(scaledRss)} (run ${seconds(measured.scaled.seconds)})`,
          ratio: times(scaledRss / defaultRss, 'default size'),
          target: '≤ 1.3',
          met: judged(scaledRss / defaultRss, scaledRss / defaultRss <= 1.3),
        }
      : { measurement: 'peak RSS at a larger size', figure: measured.failures.memory ? `FAILED: ${measured.failures.memory}` : 'not measured' },
    measured.extract
      ? {
          measurement: `peak RSS of the extract alone, export of ${options.extractItems.toLocaleString('en-US')} facts (${measured.extract.items.toLocaleString('en-US')} items)`,
          figure: `${megabytes(measured.extract.peakRssBytes)} (${rate(measured.extract.items / measured.extract.seconds, 'items')})`,
          target: '< 200 MB',
          met: measured.extract.peakRssBytes < 200 * mb,
        }
      : { measurement: 'peak RSS of the extract alone', figure: measured.failures.extract ? `FAILED: ${measured.failures.extract}` : 'not measured' },
    ...exportSyncLines(measured),
  ];
  const figures = {
    targetRows: rows,
    ceilingRowsPerSecond: ceilingRate,
    exportRowsPerSecond: exportRate,
    exportRunSeconds: runSeconds,
    nodeCpuMicrosPerItem: cpuPerItem,
    leanFloorCpuMicrosPerItem: floorPerItem,
    leanFloorItemsPerSecond: floorRate,
    naiveRowsPerSecond: naiveRate,
    dynamodbRawScanItemsPerSecond: rawRate,
    dynamodbRunItemsPerSecond: toolRate,
    perWorkerDynamoDbItemsPerSecond: toolRate,
    rerunSeconds,
    convergeSeconds,
    convergeRowsWritten: convergeWritten,
    rerunRowsWritten: rerunWritten,
    finalizeSeconds: median(rounds.map((r) => r.finalize?.seconds ?? Number.NaN)),
    finalizeCacheSeconds: median(rounds.map((r) => r.finalize?.cacheSeconds ?? Number.NaN)),
    finalizeAgainSeconds: median(rounds.map((r) => r.finalize?.againSeconds ?? Number.NaN)),
    validateSampleSeconds: sampleSeconds,
    validateFullSeconds: fullSeconds,
    peakRssBytes: defaultRss,
    scaledPeakRssBytes: scaledRss,
    extractPeakRssBytes: measured.extract?.peakRssBytes ?? Number.NaN,
    ratios: {
      exportToCeiling,
      exportToNaive,
      dynamodbToRawScan: toolToRaw,
      rerunToRun,
      convergeToRun,
      validateSampleToRun: sampleToRun,
      validateFullToRun: fullToRun,
      scaledRssToDefault: scaledRss / defaultRss,
    },
  };
  return { lines, figures };
}

/** Finalize next to the run: the whole (key absent, index missing), its steps, and a second one with nothing to do. */
function finalizeLines(rounds: readonly ExportRound[], runSeconds: number): FigureLine[] {
  const measured = rounds.map((r) => r.finalize).filter((f) => f !== undefined);
  if (measured.length === 0) return [{ measurement: 'finalize', figure: 'not measured' }];
  const of = (pick: (f: (typeof measured)[number]) => number) => median(measured.map(pick));
  const changedAgain = measured.some((f) => f.againChanged);
  return [
    {
      measurement: 'finalize: key absent, index missing (add NOT VALID, orphans, VALIDATE, index CONCURRENTLY, progress cache)',
      figure: `${seconds(of((f) => f.seconds))} (key ${seconds(of((f) => f.foreignKeySeconds))}, index ${seconds(of((f) => f.indexSeconds))})`,
      ratio: times(of((f) => f.seconds) / runSeconds, 'run'),
    },
    {
      measurement: `progress cache: ${of((f) => f.cachedLinks).toLocaleString('en-US')} links, ${of((f) => f.cachedGoals).toLocaleString('en-US')} goals, set-wise`,
      figure: seconds(of((f) => f.cacheSeconds)),
      ratio: times(of((f) => f.cacheSeconds) / runSeconds, 'run'),
    },
    { measurement: `finalize again (${changedAgain ? 'SOMETHING CHANGED' : 'nothing changed'})`, figure: seconds(of((f) => f.againSeconds)) },
  ];
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
