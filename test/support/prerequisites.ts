import { inject } from 'vitest';
import type { Prerequisite } from './prerequisite-checks.js';

export { CHROMIUM, type Prerequisite } from './prerequisite-checks.js';

/**
 * Why a prerequisite is missing in this test run, or undefined when it is there. A suite that
 * skips for want of one calls this with the name written out: the global setup finds the suites
 * to name in its "SKIPPED here" line by that text.
 */
export function missing(prerequisite: Prerequisite): string | undefined {
  return inject('missingPrerequisites')[prerequisite];
}
