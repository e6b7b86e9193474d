import type { Argv } from 'yargs';
import { configFromArgs, withConfigOptions, withSourceOptions, type ConfigArgs } from '../common-options.js';
import { loadConfigFile, maskedConfig } from '../../config/resolve.js';
import { print } from '../output.js';

export const configCommand = {
  command: 'config',
  describe: 'print the resolved configuration of an environment (file, then environment variables, then flags), secrets masked',
  builder: (yargs: Argv) =>
    withSourceOptions(withConfigOptions(yargs))
      .option('batch-rows', { type: 'number', describe: 'target rows per transaction' })
      .option('sample', { type: 'number', describe: 'records to compare field by field when validating' })
      .example('$0 config --env staging', 'what a run in staging would use')
      .example('$0 config --env prod --source export --export-dir ./backup', 'the same, with flags over the file'),
  handler: (args: ConfigArgs) => {
    const config = configFromArgs(args);
    const file = loadConfigFile(args.config);
    print(
      JSON.stringify(
        { configFile: file?.file ?? null, environments: Object.keys(file?.content.environments ?? {}), ...maskedConfig(config) },
        null,
        2,
      ),
    );
  },
};
