import { describe, expect, it } from 'vitest';
import { commandNames } from '../../scripts/readme-usage.js';
import { cli, show } from './cli-process.js';

describe('the built CLI’s --help', () => {
  it('lists every command, the configuration rules and the exit codes', async () => {
    const result = await cli(['--help']);
    expect(result.code, show(result)).toBe(0);
    for (const name of commandNames()) expect(result.stdout).toMatch(new RegExp(`^  kpi-migrate ${name}\\b`, 'm'));
    expect(result.stdout).toMatch(/Exit codes: 0 .* 1 .* 2 .* 3 .* 4 internal error/s);
    expect(result.stdout).toMatch(/Secrets only from the environment/);
  });

  it.each(commandNames())('%s --help describes the command and every option', async (name) => {
    const result = await cli([name, '--help']);
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout.split('\n')[0]).toMatch(new RegExp(`^kpi-migrate ${name}\\b`));
    const optionLines = result.stdout.split('\n').filter((line) => /^ {2}--[a-z]/.test(line));
    expect(optionLines.length).toBeGreaterThan(2);
    for (const line of optionLines) {
      // `  --flag   description   [type]`: a flag with nothing but its type after it is undocumented.
      const described = line.replace(/^ {2}--[a-z-]+/, '').replace(/\[[^\]]*\]/g, '').trim();
      expect(described.length, `${name}: ${line}`).toBeGreaterThan(0);
    }
  });

  it('refuses an unknown command or option with exit 2 (strict)', async () => {
    const unknownCommand = await cli(['migrate-everything']);
    expect(unknownCommand.code, show(unknownCommand)).toBe(2);
    expect(unknownCommand.stderr).toMatch(/USAGE: Unknown argument: migrate-everything/);
    const unknownOption = await cli(['run', '--sorce', 'export']);
    expect(unknownOption.code, show(unknownOption)).toBe(2);
    expect(unknownOption.stderr).toMatch(/Unknown argument: sorce/);
  });
});
