import path from 'node:path';
import { packageRoot } from '../src/package-root.js';
import { seed } from '../src/seed/index.js';
import { runNode } from './processes.js';

export interface ExtractMemoryFigures {
  /** Legacy items read (every table: lookups, links, facts). */
  items: number;
  seconds: number;
  peakRssBytes: number;
}

const READER = path.join(packageRoot, 'dist', 'bench', 'read-export.js');

/** Seeds an export of `facts` fact records and reads it whole in a process of its own. */
export async function measureExtractMemory(facts: number, dir: string): Promise<ExtractMemoryFigures> {
  await seed({ items: facts, seed: 1, out: dir, format: 'export' });
  const figures = await runNode(READER, [dir]);
  if (figures.exitCode !== 0) throw new Error(`read-export exited ${figures.exitCode}\n${figures.stderr.slice(-3000)}`);
  const { items, seconds } = JSON.parse(figures.stdout) as { items: number; seconds: number };
  return { items, seconds, peakRssBytes: figures.peakRssBytes };
}
