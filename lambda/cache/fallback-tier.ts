import type { DependencyBypass } from './dependency-bypass';
import type { InProcessTier } from './in-process-tier';
import {
  type EvictClaim,
  type EvictedToken,
  type Lease,
  type LeaseOutcome,
  type LeaseResult,
  type LeaseToll,
  type SharedTier,
  SharedTierUnavailable,
  type TierItem,
} from './shared-tier';
import type { CachedToken } from './token-store';

/** The shared table as the fallback needs it: it also takes back, on its own terms, what a container kept. */
export interface TableTier extends SharedTier {
  /**
   * Puts back a token kept while the table failed, unless the item moved on since (a token, a lease, an evict
   * of it or of a later token): the item as written, or undefined when refused.
   */
  writeBack(key: string, token: CachedToken, providerId: string): Promise<TierItem | undefined>;
}

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

/** A token this container's own tier holds: kept while the table failed. */
interface Kept {
  readonly token: CachedToken;
  readonly providerId: string;
  readonly version: string;
}

const sameTimes = (token: CachedToken, evicted: EvictedToken) =>
  token.issuedAt === evicted.issuedAt && token.expiresAt === evicted.expiresAt;

/**
 * The shared table, never fatal for a vend: a call that fails is reported to the {@link DependencyBypass}
 * (which logs it and decides whether the table is left alone for a while) and answered by this container's
 * own tier instead, so the service keeps vending with one upstream request per key per container.
 *
 * A token this container fetched while the table or the key service failed is kept in its own tier only
 * until the table next answers for the key with no live lease on it: then it goes back once, if the
 * table's item is still as the fault left it (see {@link TableTier.writeBack}), and is dropped either way —
 * an evict made since, here or anywhere, stays one. An evict is never answered by this container's tier: it is the table's, or
 * {@link SharedTierUnavailable}.
 */
export class FallbackTier implements SharedTier {
  constructor(
    private readonly primary: TableTier,
    private readonly fallback: InProcessTier,
    private readonly bypass: DependencyBypass,
  ) {}

  async read(key: string): Promise<TierItem | undefined> {
    const primary = await this.tryPrimary('get', (tier) => tier.read(key));
    if (!primary.ok) return this.standIn(key);
    const kept = await this.keptCopy(key);
    return kept ? this.settle(key, primary.value, kept) : primary.value;
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
      const kept = outcome.kind === 'succeeded' ? await this.keptCopy(lease.key) : undefined;
      if (kept) await this.settle(lease.key, undefined, kept);
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

  /**
   * This container's own copy of the named token goes whatever the table answers (served on during a fault,
   * it would undo the evict here); the answer is the table's. A token named by a version of this container's
   * own tier was read from it, not from the table: nothing is known of the table's item, so nothing is
   * claimed there. Every claim is the table's.
   */
  async claimEvict(key: string, evicted: EvictedToken, evictedBy: string): Promise<EvictClaim | undefined> {
    const kept = await this.fallback.read(key);
    const namedHere = kept?.version !== undefined && kept.version === evicted.version;
    if (kept?.version && kept.token && (namedHere || sameTimes(kept.token, evicted))) {
      await this.fallback.forget(key, kept.version);
    }
    if (namedHere) throw new SharedTierUnavailable(this.bypass.tokensRetryAtMs());
    const primary = await this.tryPrimary('evict', (tier) => tier.claimEvict(key, evicted, evictedBy));
    if (!primary.ok) throw new SharedTierUnavailable(this.bypass.tokensRetryAtMs());
    return primary.value;
  }

  /** The table's evict: one it cannot write now is not made (its claim lapses, the token stays). */
  async confirmEvict(claim: EvictClaim): Promise<boolean> {
    const primary = await this.tryPrimary('evict', (tier) => tier.confirmEvict(claim));
    if (!primary.ok) throw new SharedTierUnavailable(this.bypass.tokensRetryAtMs());
    return primary.value;
  }

  async withdrawEvict(claim: EvictClaim): Promise<void> {
    await this.tryPrimary('evict', (tier) => tier.withdrawEvict(claim));
  }

  /**
   * The table answered for a key this container kept a token of: the copy is dropped where the table holds a
   * token or an evict of it, waits while a lease is live (it may be this container's own, whose write
   * failed), and otherwise goes back if the table takes it (it checks its own item again, in the write's
   * condition) and is dropped once the table has decided. Only a table that fails again leaves the copy,
   * still standing in.
   */
  private async settle(key: string, item: TierItem | undefined, kept: Kept): Promise<TierItem | undefined> {
    if (item?.token || (item?.evictedThrough ?? Number.NEGATIVE_INFINITY) >= kept.token.issuedAt) {
      await this.fallback.forget(key, kept.version);
      return item;
    }
    if ((item?.leaseUntilMs ?? 0) > 0) return item;
    const written = await this.tryPrimary('put', (tier) => tier.writeBack(key, kept.token, kept.providerId));
    if (!written.ok) return this.standIn(key);
    await this.fallback.forget(key, kept.version);
    return written.value ?? item;
  }

  /** The token this container's own tier holds for the key, if any. */
  private async keptCopy(key: string): Promise<Kept | undefined> {
    const { token, providerId, version } = (await this.fallback.read(key)) ?? {};
    return token && providerId && version ? { token, providerId, version } : undefined;
  }

  /** This container's own tier's answer, marked as such (the table is tried again at `retryAtMs`). */
  private async standIn(key: string): Promise<TierItem> {
    const local = await this.fallback.read(key);
    return { ...(local ?? { leaseUntilMs: 0 }), standIn: { retryAtMs: this.bypass.tokensRetryAtMs() } };
  }

  private async tryPrimary<T>(
    operation: string,
    call: (tier: TableTier) => Promise<T>,
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
