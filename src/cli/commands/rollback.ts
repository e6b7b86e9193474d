import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, type ConfigArgs } from '../common-options.js';
import { openSqlClient } from '../../db/open.js';
import type { RollbackPlan, RunRollback } from '../../load/rollback.js';
import { resolveRunId } from '../../load/ledger.js';
import { confirmWrite } from '../confirm.js';
import { print } from '../output.js';
import { EXIT } from '../exit.js';

interface RollbackArgs extends ConfigArgs {
  run: string;
  also?: string[];
  confirm: boolean;
  yes?: boolean;
}

function runLines(runs: readonly RunRollback[], done: boolean): string[] {
  const verb = done ? ['deleted', 'restored'] : ['to delete', 'to restore'];
  return runs.map(
    (r) =>
      `  run ${r.runId} (was ${r.statusBefore}): kpi_data ${r.kpiData.delete} ${verb[0]}, ${r.kpiData.restore} ${verb[1]}; ` +
      `kpi_links ${r.kpiLinks.delete} ${verb[0]}, ${r.kpiLinks.restore} ${verb[1]}` +
      (r.sync === undefined
        ? ''
        : `; rejects of run ${r.sync.baseRunId} ${r.sync.rejectsRemoved} ${done ? 'removed' : 'to remove'}, ${r.sync.rejectsRestored} ${done ? 'put back' : 'to put back'}; ` +
          `its source image and change positions ${done ? 'dropped' : 'to drop'} (the next sync of run ${r.sync.baseRunId} reads the image again and replays the changes from the run's recorded point)`),
  );
}

function renderPlan(plan: RollbackPlan): string {
  const lines = [`rollback plan for run ${plan.runId} in schema ${plan.schema} (nothing changed):`, ...runLines(plan.runs, false)];
  if (plan.blockingRuns.length === 0) {
    lines.push('', `run again with --confirm to roll back`);
    return lines.join('\n');
  }
  lines.push('', 'refused: later runs built on these rows:');
  for (const b of plan.blockingRuns) lines.push(`  run ${b.runId} (${b.status}) on run ${b.builtOn}: ${b.reasons.join('; ')}`);
  const later = [...new Set(plan.blockingRuns.map((b) => b.runId))];
  lines.push(`name them to roll them back too, newest first: --also ${later.join(' --also ')}`);
  return lines.join('\n');
}

export const rollbackCommand = {
  command: 'rollback',
  describe: 'undo one run: delete the rows it inserted, restore the rows it changed (plan only, unless --confirm)',
  builder: (yargs: Argv) =>
    withConfigOptions(yargs)
      .option('run', { type: 'string', demandOption: true, describe: 'the run to undo, by RUN_ID or LABEL' })
      .option('also', { type: 'string', array: true, describe: 'a later run that built on it, by RUN_ID or LABEL, undone first (repeatable)' })
      .option('confirm', { type: 'boolean', default: false, describe: 'really do it (without: print the plan, change nothing)' })
      .option('yes', { type: 'boolean', default: false, describe: 'with --confirm: confirm writing to a protected environment (asked on a terminal otherwise)' })
      .example('$0 rollback --run 12', 'show what undoing run 12 would delete and restore, and which later runs stand in the way')
      .example('$0 rollback --run 12 --also 13 --confirm', 'undo run 13, then run 12, in one transaction'),
  handler: async (args: RollbackArgs) => {
    const config = configFromArgs(args);
    if (args.confirm) await confirmWrite(config, { yes: args.yes, action: `roll back run ${[args.run, ...(args.also ?? [])].join(', ')} in` });
    const { planRollback, rollbackRun } = await import('../../load/rollback.js');
    const sql = await openSqlClient(config.target.databaseUrl);
    try {
      const alsoRuns: string[] = [];
      for (const also of args.also ?? []) alsoRuns.push(await resolveRunId(sql, also));
      const request = { runId: await resolveRunId(sql, args.run), schema: config.target.schema, alsoRuns };
      if (!args.confirm) {
        const plan = await planRollback(sql, request);
        print(renderPlan(plan));
        // The plan's exit code is the one --confirm would have: a script can rely on it.
        if (plan.blockingRuns.length > 0) process.exitCode = EXIT.usage;
        return;
      }
      const result = await rollbackRun(sql, { ...request, confirm: true });
      print([`rolled back in schema ${result.schema}:`, ...runLines(result.runs, true)].join('\n'));
    } finally {
      await sql.close();
    }
  },
};
