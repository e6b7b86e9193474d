// Entry of a validation's fact worker thread (see fact-pass.ts): it opens the configured source
// again, maps its fact tables as the validation does over the link index the validation sends it,
// and sends back what that added up.
import { parentPort, workerData } from 'node:worker_threads';
import { coerceError } from '../errors.js';
import { openConfiguredSource } from '../reading/open-source.js';
import { LinkIndex, type DataEntity } from '../transform/index.js';
import type { SampledRecord } from './samples.js';
import { mapFacts, type FactWorkerData, type FactWorkerLinks, type FactWorkerMessage } from './fact-pass.js';

const port = parentPort;
if (port === null) throw new Error('fact-worker.js runs as a worker thread');
const { config, setup } = workerData as FactWorkerData;
// The validation's own index, once it has read the links: this thread opens its source meanwhile.
const links = new Promise<LinkIndex>((resolve) => port.once('message', (message: FactWorkerLinks) => resolve(LinkIndex.fromWire(message.links))));
const sendCandidates = (entity: DataEntity, candidates: SampledRecord[]): void => port.postMessage({ type: 'mapped', entity, candidates } satisfies FactWorkerMessage);

async function main(): Promise<FactWorkerMessage> {
  try {
    const source = await openConfiguredSource(config);
    try {
      return { type: 'done', totals: await mapFacts(source, setup, links, sendCandidates) };
    } finally {
      await source.close();
    }
  } catch (thrown) {
    const error = coerceError(thrown);
    let details: Record<string, unknown>;
    try {
      details = structuredClone(error.details);
    } catch {
      details = { note: 'details not transferable from the fact worker' };
    }
    return { type: 'error', code: error.code, message: error.message, details };
  }
}

port.postMessage(await main());
