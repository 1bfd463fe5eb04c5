import type { DependencyBypass } from './dependency-bypass';
import type {
  EvictedToken,
  Lease,
  LeaseOutcome,
  LeaseResult,
  LeaseToll,
  SharedTier,
  TierItem,
} from './shared-tier';
import type { CachedToken } from './token-store';

/** A lease that knows which tier issued it, so that it is given back to that one. */
interface TieredLease extends Lease {
  readonly inner: Lease;
  readonly tier: 'primary' | 'fallback';
}

const tiered = (inner: Lease, tier: TieredLease['tier']): TieredLease => ({
  key: inner.key,
  owner: inner.owner,
  priorFailures: inner.priorFailures,
  ...(inner.paidBy === undefined ? {} : { paidBy: inner.paidBy }),
  ...(inner.tollPaid ? { tollPaid: true } : {}),
  inner,
  tier,
});

const isTiered = (lease: Lease): lease is TieredLease => 'inner' in lease && 'tier' in lease;

/**
 * The shared table, never fatal: a call that fails is reported to the {@link DependencyBypass} (which logs
 * it and decides whether the table is left alone for a while) and answered by this container's own tier
 * instead, so the service keeps vending with one upstream request per key per container.
 */
export class FallbackTier implements SharedTier {
  constructor(
    private readonly primary: SharedTier,
    private readonly fallback: SharedTier,
    private readonly bypass: DependencyBypass,
  ) {}

  async read(key: string): Promise<TierItem | undefined> {
    const primary = await this.tryPrimary('get', (tier) => tier.read(key));
    if (!primary.ok) return this.fallback.read(key);
    // What this container fetched while the table or the key service failed goes back to the others.
    if (!primary.value?.token && !primary.value?.leaseUntilMs) {
      const local = await this.fallback.read(key);
      if (local?.token && local.providerId) {
        const { token, providerId } = local;
        await this.tryPrimary('put', (tier) => tier.store(key, token, providerId));
        return local;
      }
    }
    return primary.value;
  }

  async acquire(
    key: string,
    leaseMs: number,
    seenVersion: string | undefined,
    toll?: LeaseToll,
  ): Promise<LeaseResult> {
    // The toll goes with the table's lease only: this container's tier takes a lease alone.
    const primary = await this.tryPrimary('lease', (tier) => tier.acquire(key, leaseMs, seenVersion, toll));
    if (primary.ok) {
      return primary.value.kind === 'acquired'
        ? { kind: 'acquired', lease: tiered(primary.value.lease, 'primary') }
        : primary.value;
    }
    // The table's version means nothing here: this container's tier decides alone.
    const local = await this.fallback.acquire(key, leaseMs, (await this.fallback.read(key))?.version);
    return local.kind === 'acquired' ? { kind: 'acquired', lease: tiered(local.lease, 'fallback') } : local;
  }

  async release(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    const held = isTiered(lease) ? lease : tiered(lease, 'primary');
    if (held.tier === 'fallback') {
      await this.fallback.release(held.inner, outcome);
      // The table could not lease, but it may take the token: the other containers then find it there.
      if (outcome.kind === 'succeeded') {
        await this.tryPrimary('put', (tier) => tier.store(lease.key, outcome.token, outcome.providerId));
      }
      return;
    }
    const released = await this.tryPrimary('release', (tier) => tier.release(held.inner, outcome));
    // Callers of this container waiting on the lease read the fallback while the table fails; the fallback
    // also hands the token back to the table once it answers again (see `read`).
    if (!released.ok && outcome.kind === 'succeeded') {
      await this.fallback.store(lease.key, outcome.token, outcome.providerId);
    }
  }

  async store(key: string, token: CachedToken, providerId: string): Promise<void> {
    const primary = await this.tryPrimary('put', (tier) => tier.store(key, token, providerId));
    if (!primary.ok) await this.fallback.store(key, token, providerId);
  }

  async evict(key: string, evicted: EvictedToken, evictedBy: string): Promise<boolean> {
    const local = await this.fallback.evict(key, evicted, evictedBy);
    const primary = await this.tryPrimary('evict', (tier) => tier.evict(key, evicted, evictedBy));
    return local || (primary.ok && primary.value);
  }

  private async tryPrimary<T>(
    operation: string,
    call: (tier: SharedTier) => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false }> {
    if (this.bypass.tokensBypassed()) return { ok: false };
    try {
      return { ok: true, value: await call(this.primary) };
    } catch (error) {
      this.bypass.failed(operation, error);
      return { ok: false };
    }
  }
}
