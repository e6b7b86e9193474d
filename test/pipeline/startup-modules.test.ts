import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package-root.js';

const built = (...parts: string[]) => path.join(packageRoot, 'dist', 'src', ...parts);

// Told every module a fresh process loads, through a hook of Node's module loader.
const HOOKS = `
  let port;
  export function initialize(data) { port = data.port; }
  export async function load(url, context, next) { port.postMessage(url); return next(url, context); }
`;

/** The modules a fresh Node process has loaded once `file` (built) and what it imports statically are loaded: paths under the package. */
function modulesLoadedBy(file: string): string[] {
  const script = `
    import { register } from 'node:module';
    import { MessageChannel } from 'node:worker_threads';
    const { port1, port2 } = new MessageChannel();
    const loaded = new Set();
    port1.on('message', (url) => loaded.add(url));
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}), { data: { port: port2 }, transferList: [port2] });
    // A worker thread's entry refuses to run in a main thread, after its imports are loaded: that is all this needs.
    try { await import(${JSON.stringify(pathToFileURL(file).href)}); } catch {}
    // The hook's messages come from the loader's own thread: every one is posted before the import settles.
    await new Promise((resolve) => setTimeout(resolve, 100));
    port1.close();
    process.stdout.write(JSON.stringify([...loaded]));
  `;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: packageRoot, encoding: 'utf8' });
  const root = pathToFileURL(packageRoot).href + '/';
  return (JSON.parse(output) as string[]).filter((url) => url.startsWith(root)).map((url) => url.slice(root.length));
}

const under = (loaded: readonly string[], prefix: string): string[] => loaded.filter((file) => file.startsWith(prefix));

describe('a thread loads, when it starts, what it needs (the built code)', () => {
  beforeAll(() => {
    if (!existsSync(built('cli', 'build-cli.js'))) throw new Error(`${built('cli', 'build-cli.js')} is missing: run \`npm run build\` first (\`npm test\` does)`);
  });

  it('the hook sees what a module imports (so an empty list below says something)', () => {
    const loaded = modulesLoadedBy(built('pipeline', 'transform-worker.js'));
    expect(under(loaded, 'dist/src/transform/').length).toBeGreaterThan(10);
    expect(under(loaded, 'node_modules/zod/').length).toBeGreaterThan(10);
  });

  it('the CLI, before a command runs: none of the stages’ reading, mapping, writing or validating', () => {
    // build-cli.js: what main.js loads (importing main.js would run the CLI).
    const loaded = modulesLoadedBy(built('cli', 'build-cli.js'));
    expect(under(loaded, 'dist/src/cli/').length).toBeGreaterThan(10);
    for (const folder of ['pipeline', 'transform', 'reading', 'seed']) expect(under(loaded, `dist/src/${folder}/`), folder).toEqual([]);
    // The report's formats (an option's choices) and its renderers load with the CLI; the validation does not.
    expect(under(loaded, 'dist/src/validate/validate'), 'validate').toEqual([]);
    expect(loaded).not.toContain('dist/src/load/batch-writer.js');
    expect(under(loaded, 'dist/src/extract/').filter((file) => /source|export-line-scan/.test(file))).toEqual([]);
  });

  it('the migration thread, which writes what the transform thread maps: no transform stage and no zod', () => {
    const loaded = modulesLoadedBy(built('pipeline', 'migration-worker.js'));
    expect(loaded).toContain('dist/src/load/batch-writer.js');
    expect(under(loaded, 'dist/src/transform/')).toEqual([]);
    expect(under(loaded, 'node_modules/zod/')).toEqual([]);
  });
});
