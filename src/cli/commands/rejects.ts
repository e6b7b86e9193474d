import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, type ConfigArgs } from '../common-options.js';
import { openSqlClient } from '../../db/open.js';
import { REJECT_REASONS } from '../../model/reject.js';
import { print } from '../output.js';

interface RejectsArgs extends ConfigArgs {
  run?: string;
  reason?: string;
  entity?: string;
  limit: number;
  json?: boolean;
}

export const rejectsCommand = {
  command: 'rejects',
  describe: 'list the records a run could not migrate, with reason, attribute and raw item',
  builder: (yargs: Argv) =>
    withConfigOptions(yargs)
      .option('run', { type: 'string', describe: 'the run, by RUN_ID or LABEL (default: every run)' })
      .option('reason', { choices: REJECT_REASONS, describe: 'only this reason' })
      .option('entity', { type: 'string', describe: 'only this source entity (e.g. KpiActual)' })
      .option('limit', { type: 'number', default: 100, describe: 'at most this many' })
      .option('json', { type: 'boolean', default: false, describe: 'one JSON object per line, raw item included' }),
  handler: async (args: RejectsArgs) => {
    const config = configFromArgs(args);
    const { listRejects, rejectJsonLine, resolveRunId } = await import('../../load/index.js');
    const sql = await openSqlClient(config.target.databaseUrl);
    try {
      const runId = args.run === undefined ? undefined : await resolveRunId(sql, args.run);
      const rejects = await listRejects(sql, { runId, reason: args.reason, entity: args.entity, limit: args.limit });
      if (args.json) {
        for (const reject of rejects) print(rejectJsonLine(reject));
        return;
      }
      for (const r of rejects) print(`run ${r.runId}  ${r.sourceEntity}  ${r.sourceId ?? '(no Id)'}  ${r.reason}  ${r.message}`);
      print(`${rejects.length} reject(s)${rejects.length === args.limit ? ` (limit ${args.limit}; --limit for more)` : ''}`);
    } finally {
      await sql.close();
    }
  },
};
