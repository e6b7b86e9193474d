import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ResolvedConfig } from '../config/resolve.js';
import { isPostgresServerUrl } from '../db/open.js';
import { MigrateError, type ErrorCode } from '../errors.js';
import type { DataEntity } from '../model/entities.js';
import type { RejectReason } from '../model/reject.js';
import type { LegacySource } from '../model/source.js';
import type { LinkIndex, LinkIndexWire } from '../transform/index.js';
import { expectData } from './expectations.js';
import { PassTotals, type PassTotalsWire } from './pass-totals.js';
import { LedgerPass } from './reject-ledger.js';
import type { RowHash } from './row-digest.js';
import { CONTRACT_COLUMNS, KEY_COLUMNS } from './target-columns.js';
import type { SampledRecord } from './samples.js';

/** What a pass over some fact tables needs besides its source, all of it data that crosses threads. */
export interface FactPassSetup {
  entities: DataEntity[];
  /** Canonical tenant GUID of a `--tenant` run. */
  tenant?: string;
  runId?: string;
  /** The run's rejects of these entities' records (RejectLedger.recordsOf). */
  rejects: [string, RejectReason[]][];
  full: boolean;
  limit: number;
  sample: { size: number; seed: number };
  /** How rows are hashed (rowHashOf): as the thread that merges hashes them. */
  rowHash: RowHash;
}

/**
 * Some fact tables mapped again, as validateMigration maps them, from a source of their own and
 * the link index the validation built (sent across as LinkIndex.toWire gives it), each record
 * accounted against the run's rejects, and what that adds up returned to be merged. Each entity's
 * tally ends with the rejects none of its records took. As each table's pass ends, `mapped` is
 * given its sample candidates: the sample's records of that table are among them, so the thread
 * that merges can read them again by key (and recount the table) while this one maps the next.
 */
export async function mapFacts(
  source: LegacySource,
  setup: FactPassSetup,
  built: Promise<LinkIndex>,
  mapped: (entity: DataEntity, candidates: SampledRecord[]) => void = () => {},
): Promise<PassTotalsWire> {
  const links = await built;
  const totals = new PassTotals(setup.full ? CONTRACT_COLUMNS : KEY_COLUMNS, setup.limit, setup.sample, setup.rowHash);
  const pass = new LedgerPass(setup.runId, new Map(setup.rejects));
  for (const entity of setup.entities) {
    const started = performance.now();
    await expectData(source, entity, links, pass, setup.tenant, (expectation) => void totals.add(expectation));
    totals.tallies[entity].seconds = (performance.now() - started) / 1000;
    mapped(entity, totals.sampler.chosen().filter((record) => record.entity === entity));
  }
  for (const entity of setup.entities) for (const difference of pass.leftovers(entity)) totals.tallies[entity].differences.add(difference);
  return totals.toWire(setup.entities);
}

const WORKER_FILE = new URL('./fact-worker.js', import.meta.url);

/** The worker's start: its configuration, opened again there, and the pass. */
export interface FactWorkerData {
  config: ResolvedConfig;
  setup: FactPassSetup;
}

/** What the validation sends the worker once it has read the links: their index (the worker maps nothing before). */
export interface FactWorkerLinks {
  type: 'links';
  links: LinkIndexWire;
}

export type FactWorkerMessage =
  | { type: 'mapped'; entity: DataEntity; candidates: SampledRecord[] }
  | { type: 'done'; totals: PassTotalsWire }
  | { type: 'error'; code: ErrorCode; message: string; details: Record<string, unknown> };

/**
 * Whether a worker thread can map facts for a validation of this configuration: the worker is
 * compiled JavaScript (run from TypeScript sources, as the tests are, there is none), and it opens
 * the source again, which must not be an embedded PGlite that this process may hold open.
 */
export function factWorkerAvailable(config: ResolvedConfig): boolean {
  if (!WORKER_FILE.pathname.endsWith('.js') || !existsSync(fileURLToPath(WORKER_FILE))) return false;
  const source = config.source;
  if (source === undefined) return false;
  return source.kind !== 'kv' || (source.url !== undefined && isPostgresServerUrl(source.url));
}

/**
 * A fact pass running in a worker thread, which starts mapping once it is given the link index:
 * each table's sample candidates as its pass ends, what the pass added up once done; `stop` ends
 * it early (and waits for it).
 */
export interface FactWorker {
  readonly totals: Promise<PassTotalsWire>;
  candidates(entity: DataEntity): Promise<SampledRecord[]>;
  giveLinks(links: LinkIndex): void;
  stop(): Promise<void>;
}

/** A promise and what settles it (Node 20 has no Promise.withResolvers). */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

export function startFactWorker(data: FactWorkerData): FactWorker {
  const worker = new Worker(WORKER_FILE, { workerData: data });
  let settled = false;
  const mapped = new Map(data.setup.entities.map((entity) => [entity, deferred<SampledRecord[]>()]));
  const done = deferred<PassTotalsWire>();
  const fail = (error: MigrateError): void => {
    settled = true;
    done.reject(error);
    for (const waiting of mapped.values()) waiting.reject(error);
  };
  worker.on('message', (message: FactWorkerMessage) => {
    if (message.type === 'mapped') return mapped.get(message.entity)?.resolve(message.candidates);
    settled = true;
    if (message.type === 'done') done.resolve(message.totals);
    else fail(new MigrateError(message.code, message.message, { details: message.details }));
  });
  worker.on('error', (error) => fail(new MigrateError('INTERNAL', `the validation's fact worker failed: ${error.message}`, { cause: error })));
  worker.on('exit', (code) => {
    if (!settled) fail(new MigrateError('INTERNAL', `the validation's fact worker exited (code ${code}) before it was done`));
  });
  // Awaited by the validation when it needs them; a failure before then is thrown there.
  done.promise.catch(() => undefined);
  for (const waiting of mapped.values()) waiting.promise.catch(() => undefined);
  return {
    totals: done.promise,
    candidates(entity) {
      const waiting = mapped.get(entity);
      return waiting === undefined ? Promise.reject(new MigrateError('INTERNAL', `the fact worker does not map ${entity}`)) : waiting.promise;
    },
    giveLinks(links) {
      const message: FactWorkerLinks = { type: 'links', links: links.toWire() };
      worker.postMessage(message);
    },
    async stop() {
      settled = true;
      await worker.terminate();
    },
  };
}
