import { describeError, type Log } from '../logging';
import { TableTimeoutError } from './dynamodb-tier';
import type { Lease, LeaseOutcome, LeaseResult, SharedTier, TierItem } from './shared-tier';
import type { CachedToken } from './token-store';

export interface FallbackTierOptions {
  readonly log: Log;
  readonly now?: () => number;
  /**
   * After a call times out, the primary is not asked again for this long: a hung table then costs one
   * timeout per container, not one per call. @default 10000
   */
  readonly bypassMs?: number;
}

/** A lease that knows which tier issued it, so that it is given back to that one. */
class TieredLease implements Lease {
  constructor(
    readonly inner: Lease,
    readonly onFallback: boolean,
  ) {}

  get key(): string {
    return this.inner.key;
  }

  get owner(): string {
    return this.inner.owner;
  }

  get priorFailures(): number {
    return this.inner.priorFailures;
  }

  get paidBy(): string | undefined {
    return this.inner.paidBy;
  }
}

/**
 * The shared table, never fatal: a call that fails is logged (`cache_table_error`, naming the call) and
 * answered by this container's own tier instead, so the service keeps vending with one upstream request per
 * key per container. A call that times out also takes the table out of use for `bypassMs`; a refused
 * connection fails fast and is simply tried again next time.
 */
export class FallbackTier implements SharedTier {
  private readonly log: Log;
  private readonly now: () => number;
  private readonly bypassMs: number;
  private bypassUntilMs = 0;

  constructor(
    private readonly primary: SharedTier,
    private readonly fallback: SharedTier,
    options: FallbackTierOptions,
  ) {
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.bypassMs = options.bypassMs ?? 10_000;
  }

  read(key: string): Promise<TierItem | undefined> {
    return this.either('get', (tier) => tier.read(key));
  }

  async acquire(key: string, leaseMs: number, seenVersion: string | undefined): Promise<LeaseResult> {
    const primary = await this.tryPrimary('lease', (tier) => tier.acquire(key, leaseMs, seenVersion));
    if (primary.ok)
      return primary.value.kind === 'acquired' ? this.tiered(primary.value, false) : primary.value;
    // The table's version means nothing here: this container's tier decides alone.
    const local = await this.fallback.acquire(key, leaseMs, (await this.fallback.read(key))?.version);
    return local.kind === 'acquired' ? this.tiered(local, true) : local;
  }

  async release(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    const tiered = lease instanceof TieredLease ? lease : new TieredLease(lease, false);
    if (tiered.onFallback) {
      await this.fallback.release(tiered.inner, outcome);
      // The table could not lease, but it may take the token: the other containers then find it there.
      if (outcome.kind === 'succeeded') {
        await this.tryPrimary('put', (tier) => tier.store(lease.key, outcome.token, outcome.providerId));
      }
      return;
    }
    const released = await this.tryPrimary('release', (tier) => tier.release(tiered.inner, outcome));
    // Callers of this container waiting on the lease read the fallback while the table fails.
    if (!released.ok && outcome.kind === 'succeeded') {
      await this.fallback.store(lease.key, outcome.token, outcome.providerId);
    }
  }

  store(key: string, token: CachedToken, providerId: string): Promise<void> {
    return this.either('put', (tier) => tier.store(key, token, providerId));
  }

  async evict(key: string, version: string, evictedBy: string): Promise<boolean> {
    const local = await this.fallback.evict(key, version, evictedBy);
    const primary = await this.tryPrimary('evict', (tier) => tier.evict(key, version, evictedBy));
    return local || (primary.ok && primary.value);
  }

  private tiered(result: LeaseResult & { kind: 'acquired' }, onFallback: boolean): LeaseResult {
    return { kind: 'acquired', lease: new TieredLease(result.lease, onFallback) };
  }

  private async either<T>(operation: string, call: (tier: SharedTier) => Promise<T>): Promise<T> {
    const primary = await this.tryPrimary(operation, call);
    return primary.ok ? primary.value : call(this.fallback);
  }

  private async tryPrimary<T>(
    operation: string,
    call: (tier: SharedTier) => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false }> {
    if (this.now() < this.bypassUntilMs) return { ok: false };
    try {
      return { ok: true, value: await call(this.primary) };
    } catch (error) {
      const timedOut = error instanceof TableTimeoutError;
      if (timedOut) this.bypassUntilMs = this.now() + this.bypassMs;
      this.log.warn(`cache table ${operation} failed`, {
        event: 'cache_table_error',
        operation,
        timed_out: timedOut,
        ...(timedOut ? { bypass_ms: this.bypassMs } : {}),
        ...describeError(error),
      });
      return { ok: false };
    }
  }
}
