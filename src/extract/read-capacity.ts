import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A token bucket of read capacity units shared by every segment of a source, refilled at
 * `unitsPerSecond` and holding at most one second's worth. A request's cost is only known
 * from its response (ReturnConsumedCapacity), so a caller reserves an estimate first (what
 * its previous page cost) and settles the difference afterwards; the balance may go negative,
 * and then everyone waits until it has been paid back.
 */
export class ReadCapacityLimiter {
  private balance: number;
  private refilledAt = performance.now();
  /** Time callers spent waiting for capacity, in milliseconds. */
  waitedMs = 0;

  constructor(readonly unitsPerSecond: number) {
    if (!(unitsPerSecond > 0)) throw new RangeError('unitsPerSecond must be positive');
    this.balance = unitsPerSecond;
  }

  private refill(): void {
    const now = performance.now();
    this.balance = Math.min(this.unitsPerSecond, this.balance + ((now - this.refilledAt) / 1000) * this.unitsPerSecond);
    this.refilledAt = now;
  }

  async reserve(estimate: number, signal?: AbortSignal): Promise<void> {
    this.refill();
    while (this.balance <= 0) {
      const waitMs = Math.max(1, Math.ceil((-this.balance / this.unitsPerSecond) * 1000));
      this.waitedMs += waitMs;
      await sleep(waitMs, undefined, signal ? { signal } : undefined);
      this.refill();
    }
    this.balance -= estimate;
  }

  settle(estimate: number, actual: number): void {
    this.refill();
    this.balance += estimate - actual;
  }
}
