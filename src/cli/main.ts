#!/usr/bin/env node
// The AWS SDK versions pinned here support Node 20; its notice about future releases is not for operators.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { buildCli } from './build-cli.js';
import { exitCodeFor } from './exit.js';
import { printError } from './output.js';
import { MigrateError, coerceError } from '../errors.js';

function report(error: unknown): void {
  const failure = error instanceof MigrateError ? error : coerceError(error);
  printError(`kpi-migrate: ${failure.code}: ${failure.message}`);
  if (process.env.KPI_MIGRATE_DEBUG && failure.cause instanceof Error) printError(String(failure.cause.stack));
  process.exitCode = exitCodeFor(failure);
}

// Node would print these itself, unredacted: a driver's stray error may carry a connection string.
process.on('uncaughtException', (error) => {
  report(error);
  process.exit();
});
process.on('unhandledRejection', (reason) => {
  report(reason);
  process.exit();
});

/** The one place the process exits. */
async function main(): Promise<void> {
  try {
    await buildCli(process.argv.slice(2)).parseAsync();
  } catch (error) {
    report(error);
  }
}

await main();
