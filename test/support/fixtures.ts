import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ExpectedOutcome } from '../../src/seed/index.js';
import { packageRoot } from '../../src/package-root.js';

export const SMALL_FIXTURES = path.join(packageRoot, 'fixtures', 'small');

export function expectedOutcome(dir = SMALL_FIXTURES): ExpectedOutcome {
  return JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as ExpectedOutcome;
}
