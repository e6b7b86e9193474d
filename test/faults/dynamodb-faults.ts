import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createDynamoDbSource, type DynamoDbSource } from '../../src/extract/dynamodb-source.js';
import { quietAwsLogger } from '../../src/extract/aws-logger.js';
import { loadLegacyTables, openLocalDynamoDbClient } from '../../src/seed/load-dynamodb.js';
import { planLegacyData } from '../../src/seed/index.js';
import type { ExpectedOutcome } from '../../src/seed/index.js';
import { runMigration, type RunResult } from '../../src/pipeline/run.js';
import type { EntityProgress } from '../../src/pipeline/progress.js';
import type { SqlClient } from '../../src/db/sql-client.js';
import { LEGACY_ENTITIES, defaultTableNames, type TableNames } from '../../src/model/entities.js';

/** Seeded legacy tables in DynamoDB Local under a fresh prefix, so test files never share tables. */
export async function loadSeededTables(endpoint: string, options: { items: number; seed: number }): Promise<{ tableNames: TableNames; expected: ExpectedOutcome }> {
  const plan = planLegacyData({ items: options.items, seed: options.seed });
  const tableNames = defaultTableNames(`faults-${randomBytes(4).toString('hex')}-`);
  const client = openLocalDynamoDbClient(endpoint);
  try {
    await loadLegacyTables(
      client,
      LEGACY_ENTITIES.map((entity) => ({ table: tableNames[entity], items: plan.tableItems(entity) })),
    );
  } finally {
    client.destroy();
  }
  return { tableNames, expected: plan.expected() };
}

/**
 * An HTTP response as DynamoDB sends it for an error: the SDK's own deserializer turns it into the
 * real exception class (ProvisionedThroughputExceededException, InternalServerError, …), exactly
 * as if the service had answered so.
 */
function errorResponse(statusCode: number, type: string | undefined, message: string) {
  const body = type === undefined ? '' : JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message });
  return {
    statusCode,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `injected-${randomBytes(4).toString('hex')}` },
    body: Readable.from(body.length === 0 ? [] : [Buffer.from(body)]),
  };
}

export const INJECTED_FAULTS = {
  throughputExceeded: () => errorResponse(400, 'ProvisionedThroughputExceededException', 'injected: the level of configured provisioned throughput for the table was exceeded'),
  throttling: () => errorResponse(400, 'ThrottlingException', 'injected: rate of requests exceeds the allowed throughput'),
  internalServerError: () => errorResponse(500, 'InternalServerError', 'injected: internal server error'),
  serviceUnavailable: () => errorResponse(503, undefined, ''),
} as const;
export type InjectedFault = keyof typeof INJECTED_FAULTS;

/**
 * Fault injection: before a request reaches the network, `decide` may answer it with an injected
 * error response instead. Placed inside the deserializer, so the SDK parses the injected answer.
 */
export function injectFaults(client: DynamoDBClient, decide: (commandName: string) => InjectedFault | undefined): Record<InjectedFault, number> {
  const injected: Record<InjectedFault, number> = { throughputExceeded: 0, throttling: 0, internalServerError: 0, serviceUnavailable: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const fault = decide(String((context as { commandName?: string }).commandName));
      if (fault === undefined) return next(args);
      injected[fault] += 1;
      return { response: INJECTED_FAULTS[fault](), output: undefined as never };
    },
    { step: 'deserialize', priority: 'low', name: 'kpiMigrateFaultInjection' },
  );
  return injected;
}

export const READ_OPERATIONS = ['ScanCommand', 'GetItemCommand', 'BatchGetItemCommand', 'DescribeTableCommand', 'QueryCommand'] as const;

/**
 * The source must never write: any other operation throws before it is sent, and is recorded (a
 * tool that swallowed the error would still be caught by the record).
 */
export function guardReadOnly(client: DynamoDBClient): { seen: Map<string, number>; refused: string[] } {
  const seen = new Map<string, number>();
  const refused: string[] = [];
  const allowed = new Set<string>(READ_OPERATIONS);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String((context as { commandName?: string }).commandName);
      seen.set(name, (seen.get(name) ?? 0) + 1);
      if (!allowed.has(name)) {
        refused.push(name);
        throw new Error(`the legacy source must not be written to: ${name} refused`);
      }
      return next(args);
    },
    { step: 'initialize', priority: 'high', name: 'kpiMigrateReadOnlyGuard' },
  );
  return { seen, refused };
}

/** A client as the tool makes one for DynamoDB Local, with the SDK's own retries off (the source retries). */
export function localClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    logger: quietAwsLogger,
    // The SDK's own retries off: the source's policy must see (and count) every failure.
    maxAttempts: 1,
  });
}

export interface InProcessRun {
  result: RunResult;
  source: DynamoDbSource;
  progress: EntityProgress[];
  warnings: string[];
}

/** runMigration in this process from DynamoDB Local through `client`, with a fast retry policy. */
export async function migrateFromDynamoDb(sql: SqlClient, client: DynamoDBClient, tableNames: TableNames): Promise<InProcessRun> {
  const progress: EntityProgress[] = [];
  const warnings: string[] = [];
  const source = createDynamoDbSource({
    client,
    tableNames,
    segments: 4,
    pageLimit: 40,
    retry: { baseMs: 1, capMs: 8 },
    logger: { warn: (message) => warnings.push(message), error: (message) => warnings.push(message) },
  });
  try {
    const result = await runMigration({
      source,
      sql,
      targetSchema: 'public',
      environment: 'test',
      batchRows: 100,
      ledgerOptions: {},
      codeVersion: 'test',
      configHash: 'test',
      progress: { update: (p) => progress.push({ ...p }) },
    });
    return { result, source, progress, warnings };
  } finally {
    await source.close();
  }
}
