import { setTimeout as sleep } from 'node:timers/promises';

/** How a failed AWS call is treated: throttles and 5xx are retried forever, network faults a few times. */
export type FailureKind = 'throttle' | 'server' | 'network' | 'fatal';

const THROTTLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'Throttling',
  'TooManyRequestsException',
]);
const SERVER_NAMES = new Set(['InternalServerError', 'InternalFailure', 'ServiceUnavailable', 'ServiceUnavailableException']);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH']);

export function classifyAwsError(error: unknown): FailureKind {
  if (typeof error !== 'object' || error === null) return 'fatal';
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  if (e.name === 'AbortError') return 'fatal';
  if (e.name !== undefined && THROTTLE_NAMES.has(e.name)) return 'throttle';
  const status = e.$metadata?.httpStatusCode;
  if (status === 429) return 'throttle';
  if ((status !== undefined && status >= 500) || (e.name !== undefined && SERVER_NAMES.has(e.name))) return 'server';
  if ((e.code !== undefined && NETWORK_CODES.has(e.code)) || e.name === 'TimeoutError') return 'network';
  return 'fatal';
}

export interface RetryPolicy {
  /** First backoff step; doubled per attempt up to `capMs`, with jitter over the upper half. */
  baseMs: number;
  capMs: number;
  /** A refused or reset connection is retried this often (a wrong endpoint must fail, not hang). */
  maxNetworkAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 50, capMs: 20_000, maxNetworkAttempts: 8 };

export interface RetryCounters {
  throttles: number;
  retries: number;
}

/** Half the exponential step plus a random share of the other half: always slows down, never in lockstep. */
export function backoffMs(attempt: number, policy: RetryPolicy): number {
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return step / 2 + Math.random() * (step / 2);
}

/**
 * Runs `call` until it succeeds or fails with something not worth retrying (thrown as is).
 * Throttling is never given up on: the run slows down and `counters` show it.
 */
export async function retrying<T>(
  call: () => Promise<T>,
  policy: RetryPolicy,
  counters: RetryCounters,
  signal?: AbortSignal,
  onThrottle?: (throttles: number, error: unknown) => void,
): Promise<T> {
  let attempt = 0;
  let networkFailures = 0;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (signal?.aborted) throw error;
      const kind = classifyAwsError(error);
      if (kind === 'fatal') throw error;
      if (kind === 'network' && ++networkFailures >= policy.maxNetworkAttempts) throw error;
      if (kind === 'throttle') {
        counters.throttles += 1;
        onThrottle?.(counters.throttles, error);
      }
      counters.retries += 1;
      await sleep(backoffMs(attempt, policy), undefined, signal ? { signal } : undefined);
      attempt += 1;
    }
  }
}
