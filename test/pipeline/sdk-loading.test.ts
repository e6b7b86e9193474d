import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package-root.js';

const built = (...parts: string[]) => path.join(packageRoot, 'dist', 'src', ...parts);

/** Which AWS SDK clients a fresh Node process has loaded once `file` (built) and what it imports statically are loaded. */
function sdkClientsLoadedBy(file: string): string[] {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    // A worker thread's entry refuses to run in a main thread, after its imports are loaded: that is all this needs.
    try { await import(${JSON.stringify(pathToFileURL(file).href)}); } catch {}
    const clients = new Set(Object.keys(require.cache).flatMap((key) => /@aws-sdk[\\\\/](client-[a-z-]+)[\\\\/]/.exec(key)?.[1] ?? []));
    process.stdout.write(JSON.stringify([...clients].sort()));
  `;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: packageRoot, encoding: 'utf8', env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
  return JSON.parse(output) as string[];
}

describe('the AWS SDK is loaded only by what reads DynamoDB (the built code)', () => {
  beforeAll(() => {
    if (!existsSync(built('cli', 'build-cli.js'))) throw new Error(`${built('cli', 'build-cli.js')} is missing: run \`npm run build\` first (\`npm test\` does)`);
  });

  it('not by the CLI, the migration thread or the transform thread when they start', () => {
    for (const file of [built('cli', 'build-cli.js'), built('pipeline', 'migration-worker.js'), built('pipeline', 'transform-worker.js')]) {
      expect(sdkClientsLoadedBy(file), file).toEqual([]);
    }
  });

  it('by the DynamoDB source and the stream reader (the check sees a loaded client)', () => {
    expect(sdkClientsLoadedBy(built('extract', 'dynamodb-source.js'))).toEqual(['client-dynamodb']);
    expect(sdkClientsLoadedBy(built('extract', 'dynamodb-stream.js'))).toEqual(['client-dynamodb', 'client-dynamodb-streams']);
  });
});
