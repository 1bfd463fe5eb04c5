import { type Clock, systemClock } from '../clock';
import { EVENTS } from '../contracts/metrics';
import { isThrottle, TableTimeoutError } from '../contracts/token-table';
import { describeError, type Log } from '../logging';
import { SealingUnavailableError } from './token-sealer';

/** How long a container leaves a failing dependency alone. */
export const BYPASS_MS = 10_000;

export interface DependencyBypassOptions {
  readonly log: Log;
  readonly clock?: Clock;
  /** @default BYPASS_MS */
  readonly bypassMs?: number;
}

const timedOut = (error: unknown): boolean => {
  const name = (error as { name?: unknown } | undefined)?.name;
  return error instanceof TableTimeoutError || name === 'AbortError' || name === 'TimeoutError';
};

/**
 * When this container leaves the table alone, one decision for every user of the table (the shared tier
 * and the budget ledger): a table call that hangs or is throttled takes the table out of use for
 * `bypassMs`, and so does a key service that cannot seal or open (a token is useless to the table without
 * it). A refused or failing table call fails fast and is simply tried again next time. Every failure is
 * logged here, once: `cache_table_error` for the table, `sealing_unavailable` for the key service.
 */
export class DependencyBypass {
  private readonly log: Log;
  private readonly clock: Clock;
  private readonly bypassMs: number;
  private tableUntilMs = 0;
  private sealingUntilMs = 0;

  constructor(options: DependencyBypassOptions) {
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
    this.bypassMs = options.bypassMs ?? BYPASS_MS;
  }

  /** Whether the table is out of use for calls that need only the table (the budget ledger). */
  tableBypassed(): boolean {
    return this.clock.now() < this.tableUntilMs;
  }

  /** Whether the table is out of use for tokens: the table, or the key service that seals them, failed. */
  tokensBypassed(): boolean {
    const nowMs = this.clock.now();
    return nowMs < this.tableUntilMs || nowMs < this.sealingUntilMs;
  }

  /** When this container next tries the table for tokens (epoch ms): now, or the end of its window. */
  tokensRetryAtMs(): number {
    return Math.max(this.clock.now(), this.tableUntilMs, this.sealingUntilMs);
  }

  /** Records a failed call of `operation`: logs it, and starts a window when the failure says to. */
  failed(operation: string, error: unknown): void {
    if (error instanceof SealingUnavailableError) {
      const hung = timedOut(error.cause);
      this.sealingUntilMs = this.clock.now() + this.bypassMs;
      this.log.warn(`the key service could not ${error.operation} a token`, {
        event: EVENTS.sealingUnavailable,
        operation,
        timed_out: hung,
        bypass_ms: this.bypassMs,
        ...describeError(error.cause),
      });
      return;
    }
    const hung = timedOut(error);
    const throttled = isThrottle(error);
    if (hung || throttled) this.tableUntilMs = this.clock.now() + this.bypassMs;
    this.log.warn(`cache table ${operation} failed`, {
      event: EVENTS.cacheTableError,
      operation,
      timed_out: hung,
      throttled,
      ...(hung || throttled ? { bypass_ms: this.bypassMs } : {}),
      ...describeError(error),
    });
  }
}
