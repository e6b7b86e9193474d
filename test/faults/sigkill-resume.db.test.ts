import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSeed, mulberry32 } from '../../src/seed/prng.js';
import { MIGRATED_ENTITIES } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { describeOutcome, runCli, startCli, type CliOutcome } from '../support/child-cli.js';
import {
  committedReads,
  expectBalanced,
  expectRowsMatchCommittedCounts,
  exportRunArgs,
  pollUntil,
  resumeToCompletion,
  runIds,
  runStatus,
  seedManyFiles,
  snapshot,
  temporaryDirectory,
  type TargetSnapshot,
} from './harness.js';
import { missing } from '../support/prerequisites.js';

const skipReason = missing('postgres-server');
if (skipReason) console.warn(`skipping the SIGKILL trials: ${skipReason}`);

const WANTED_INTERRUPTED_TRIALS = 10;
// A trial whose kill came after the child had already finished (a starved test process) proves
// nothing about kills, so further seeds are tried until enough trials were really interrupted.
const MAX_TRIALS = 16;

describe.skipIf(skipReason !== undefined)('a run SIGKILLed at seeded random moments and resumed (contract §4)', () => {
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  let reference: TargetSnapshot;
  let referenceReads: number;

  beforeAll(async () => {
    data = await temporaryDirectory('sigkill');
    await seedManyFiles(data.dir, { items: 3000, seed: 4242, itemsPerFile: 100 });
    const db = await createTestDatabase();
    try {
      const clean = await runCli(exportRunArgs(data.dir, db.url));
      expect(clean.code, describeOutcome(clean)).toBe(0);
      const [runId] = await runIds(db.sql);
      reference = await snapshot(db.sql, runId!);
      referenceReads = MIGRATED_ENTITIES.reduce((sum, entity) => sum + reference.accounting[entity]!.read, 0);
    } finally {
      await db.drop();
    }
  });

  afterAll(async () => {
    await data?.remove();
  });

  it(
    `≥ ${WANTED_INTERRUPTED_TRIALS} seeded trials: killed once or twice mid-run, resumed to the end, same rows, rejects and accounting as a clean run`,
    async () => {
      expectBalanced(reference.accounting);
      const trials: { trial: number; kills: number; killedAtReads: number[] }[] = [];
      for (let trial = 1; trial <= MAX_TRIALS && trials.length < WANTED_INTERRUPTED_TRIALS; trial++) {
        const rng = mulberry32(hashSeed('sigkill-trial', trial));
        // Kill points as shares of the records the clean run read: after the first batch, before the last.
        const first = 0.03 + rng.next() * 0.8;
        const points = rng.chance(0.4) ? [first, first + rng.next() * (0.9 - first)] : [first];
        const db: TestDatabase = await createTestDatabase();
        try {
          // Not validated: each trial is compared row for row with the clean run (validated in
          // beforeAll), and a kill arriving late would otherwise land in the validation of a
          // completed run instead of in the run.
          const args = exportRunArgs(data.dir, db.url, '--no-validate');
          let runId: string | undefined;
          const killedAtReads: number[] = [];
          let completed = false;
          for (const point of points) {
            const child = startCli(runId === undefined ? args : [...args, '--resume', runId]);
            const threshold = Math.max(1, Math.floor(point * referenceReads));
            const reached = await pollUntil(async () => ((await committedReads(db.sql)) >= threshold ? true : undefined), child.running);
            let outcome: CliOutcome;
            if (reached) {
              // A seeded few milliseconds more, so that kills land inside transactions as well as between them.
              await sleep(rng.int(20));
              outcome = await child.kill('SIGKILL');
            } else {
              outcome = await child.exited;
            }
            runId ??= (await runIds(db.sql))[0];
            if (outcome.signal !== 'SIGKILL') {
              expect(outcome.code, `trial ${trial}: ${describeOutcome(outcome)}`).toBe(0);
              completed = true;
              break;
            }
            killedAtReads.push(await committedReads(db.sql));
            // Killed: the run is left `running`, and only whole batches are in the target.
            expect(await runStatus(db.sql, runId!)).toBe('running');
            await expectRowsMatchCommittedCounts(db.sql, runId!);
          }
          if (killedAtReads.length === 0) continue;
          if (!completed) await resumeToCompletion(args, runId!);
          expect(await runStatus(db.sql, runId!)).toBe('completed');
          const resumed = await snapshot(db.sql, runId!);
          expectBalanced(resumed.accounting);
          expect(resumed.accounting, `trial ${trial}: accounting`).toEqual(reference.accounting);
          expect(resumed.rejects, `trial ${trial}: rejects`).toEqual(reference.rejects);
          expect(resumed.rows.links, `trial ${trial}: kpi_links`).toEqual(reference.rows.links);
          expect(resumed.rows.data, `trial ${trial}: kpi_data`).toEqual(reference.rows.data);
          trials.push({ trial, kills: killedAtReads.length, killedAtReads });
        } finally {
          await db.drop();
        }
      }
      console.info(
        `SIGKILL trials: ${trials.length} interrupted (${trials.reduce((n, t) => n + t.kills, 0)} kills), ` +
          `of ${referenceReads} records each: ${trials.map((t) => `#${t.trial}@${t.killedAtReads.join('+')}`).join(' ')}`,
      );
      expect(trials.length).toBeGreaterThanOrEqual(WANTED_INTERRUPTED_TRIALS);
    },
    600_000,
  );
});
