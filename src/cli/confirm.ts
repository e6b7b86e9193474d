import { createInterface } from 'node:readline';
import type { ResolvedConfig } from '../config/resolve.js';
import { redactUrl } from '../config/secrets.js';
import { MigrateError } from '../errors.js';

export interface ConfirmOptions {
  /** `--yes`: the operator confirmed on the command line. */
  yes?: boolean;
  /** What is about to happen, for the question: "migrate into", "roll back run 12 in", … */
  action?: string;
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * A writing command in a protected environment goes on only when confirmed: by typing the
 * environment's name on a terminal, or by --yes. Unprotected environments pass at once.
 */
export async function confirmWrite(config: ResolvedConfig, options: ConfirmOptions = {}): Promise<void> {
  if (!config.protected || options.yes) return;
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stderr;
  if (!input.isTTY || !output.isTTY) {
    throw new MigrateError('USAGE', `environment ${config.environment} is protected: pass --yes (nothing was done)`);
  }
  const where = `${redactUrl(config.target.databaseUrl)} (schema ${config.target.schema})`;
  const question =
    `environment ${config.environment} is protected: this will ${options.action ?? 'write to'} ${where}.\n` +
    `Type the environment name (${config.environment}) to go on: `;
  const answer = await ask(question, input, output);
  if (answer?.trim() !== config.environment) {
    throw new MigrateError('USAGE', `not confirmed (expected "${config.environment}"): nothing was done`);
  }
}

function ask(question: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<string | undefined> {
  return new Promise((resolve) => {
    const rl = createInterface({ input, output, terminal: true });
    let answered = false;
    // Ctrl-C or Ctrl-D closes the prompt without an answer: that is a no.
    rl.once('close', () => {
      if (!answered) output.write('\n');
      resolve(undefined);
    });
    rl.on('SIGINT', () => rl.close());
    rl.question(question, (answer) => {
      answered = true;
      resolve(answer);
      rl.close();
    });
  });
}
