import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { confirmWrite } from '../../src/cli/confirm.js';
import type { ResolvedConfig } from '../../src/config/resolve.js';
import { MigrateError } from '../../src/errors.js';

const prod: ResolvedConfig = {
  environment: 'prod',
  protected: true,
  source: undefined,
  target: { databaseUrl: 'postgres://migrator:hunter2@db.prod/kpi', schema: 'public' },
  batchRows: 20_000,
  sampleSize: 200,
};

/** A pair of streams that say they are a terminal, as readline sees them. */
function terminal() {
  const input = Object.assign(new PassThrough(), { isTTY: true });
  const output = Object.assign(new PassThrough(), { isTTY: true });
  let shown = '';
  output.on('data', (chunk: Buffer) => (shown += chunk.toString()));
  return { input, output, shown: () => shown };
}

async function refusal(promise: Promise<unknown>): Promise<MigrateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrateError);
  return error as MigrateError;
}

describe('confirmWrite', () => {
  it('lets an unprotected environment, or --yes, through without asking', async () => {
    const tty = terminal();
    await confirmWrite({ ...prod, protected: false }, { input: tty.input, output: tty.output });
    await confirmWrite(prod, { yes: true, input: tty.input, output: tty.output });
    expect(tty.shown()).toBe('');
  });

  it('refuses without --yes when there is no terminal to ask on', async () => {
    const input = new PassThrough();
    const error = await refusal(confirmWrite(prod, { input, output: new PassThrough() }));
    expect(error.code).toBe('USAGE');
    expect(error.message).toBe('environment prod is protected: pass --yes (nothing was done)');
  });

  it('on a terminal, goes on when the environment’s name is typed, and shows the target masked', async () => {
    const tty = terminal();
    const confirmed = confirmWrite(prod, { action: 'migrate into', input: tty.input, output: tty.output });
    tty.input.write('prod\n');
    await confirmed;
    expect(tty.shown()).toContain('environment prod is protected: this will migrate into postgres://migrator:*****@db.prod/kpi (schema public)');
    expect(tty.shown()).not.toContain('hunter2');
  });

  it('on a terminal, refuses any other answer, and an input that ends', async () => {
    const yes = terminal();
    const answered = confirmWrite(prod, { input: yes.input, output: yes.output });
    yes.input.write('y\n');
    expect((await refusal(answered)).message).toMatch(/not confirmed \(expected "prod"\): nothing was done/);

    const eof = terminal();
    const ended = confirmWrite(prod, { input: eof.input, output: eof.output });
    eof.input.end();
    expect((await refusal(ended)).code).toBe('USAGE');
  });
});
