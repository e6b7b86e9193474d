import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, withSourceOptions, type ConfigArgs } from '../common-options.js';
import type { SyncFigures } from '../../pipeline/sync.js';
import { confirmWrite } from '../confirm.js';
import { log, print, printError } from '../output.js';

interface SyncArgs extends ConfigArgs {
  run: string;
  untilCaughtUp?: boolean;
  follow?: boolean;
  batchChanges?: number;
  yes?: boolean;
}

/** One progress line: changes applied, what they wrote, and how far behind the source the target is. */
export function describeSyncFigures(figures: Readonly<SyncFigures>): string {
  const total = { inserted: 0, updated: 0, deleted: 0 };
  for (const counts of Object.values(figures.entities)) {
    total.inserted += counts.inserted;
    total.updated += counts.updated;
    total.deleted += counts.deleted;
  }
  const lag = figures.lagSeconds === null ? 'lag unknown' : `lag ${figures.lagSeconds.toFixed(0)} s${figures.recordsBehind === null ? '' : `, ${figures.recordsBehind} record(s) behind`}`;
  return `sync: ${figures.changes} change(s) in ${figures.batches} batch(es) (${figures.stale} already applied), rows +${total.inserted} ~${total.updated} -${total.deleted}, ${lag}`;
}

export const syncCommand = {
  command: 'sync',
  describe:
    'apply the changes made to the DynamoDB tables since a full run (their Streams, or their incremental exports in --export-dir) to what that run wrote, until caught up or following them',
  builder: (yargs: Argv) =>
    withSourceOptions(withConfigOptions(yargs))
      .option('run', { type: 'string', demandOption: true, describe: 'the full run to continue: its RUN_ID or its label' })
      .option('until-caught-up', { type: 'boolean', describe: 'end once every shard is drained to the present (the default)' })
      .option('follow', { type: 'boolean', describe: 'keep applying changes as they come, showing the lag, until SIGINT/SIGTERM' })
      .option('batch-changes', { type: 'number', describe: 'changes per transaction (default: 2000)' })
      .option('yes', { type: 'boolean', default: false, describe: 'confirm writing to a protected environment (asked on a terminal otherwise)' })
      .conflicts('follow', 'until-caught-up')
      .example('$0 sync --source dynamodb --run june-cutover --follow', 'follow the tables of the run labelled june-cutover until stopped')
      .example('$0 sync --source dynamodb --run june-cutover --until-caught-up', 'with writes frozen: apply the last changes, then validate --full and switch')
      .example('$0 sync --source export --export-dir ./export --run june-cutover', 'apply the incremental exports beside the full export the run read, window after window'),
  handler: async (args: SyncArgs) => {
    const config = configFromArgs(args);
    await confirmWrite(config, { yes: args.yes, action: 'apply the source’s changes to' });
    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals): void => {
      printError(`sync: ${signal} received, stopping after the batch in progress (what is committed stays; the same command continues)`);
      stop.abort();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let lastLine = 0;
    try {
      // Loaded by the sync command only: it brings the AWS SDK, which no other command's main thread needs.
      const { syncConfigured } = await import('../../pipeline/sync-configured.js');
      const outcome = await syncConfigured(config, {
        run: args.run,
        follow: args.follow === true,
        batchChanges: args.batchChanges,
        signal: stop.signal,
        progress: {
          batch(figures) {
            const now = Date.now();
            if (now - lastLine < 1000) return;
            lastLine = now;
            printError(describeSyncFigures(figures));
            log.info({ event: 'sync', batches: figures.batches, changes: figures.changes, stale: figures.stale, lagSeconds: figures.lagSeconds, recordsBehind: figures.recordsBehind });
          },
          message: (text) => printError(text),
        },
      });
      const lines = [
        `sync ${outcome.syncRunId} of run ${outcome.baseRunId} (${outcome.environment}, ${outcome.target}): ${outcome.ended === 'drained' ? 'caught up' : 'stopped'}`,
        describeSyncFigures(outcome.figures),
        ...Object.entries(outcome.figures.entities).map(
          ([entity, c]) =>
            `  ${entity}: ${c.changes} change(s), ${c.stale} already applied; rows +${c.inserted} ~${c.updated} -${c.deleted} (${c.unchanged} unchanged); rejects ${c.rejectsRecorded} recorded, ${c.rejectsRemoved} removed`,
        ),
      ];
      print(lines.join('\n'));
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
