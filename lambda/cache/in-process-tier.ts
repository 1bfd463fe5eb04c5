import { randomUUID } from 'node:crypto';
import { BoundedMap } from '../bounded-map';
import { type Clock, systemClock } from '../clock';
import type { ErrorCode } from '../errors';
import { boundedLeaseMs, classifyLease } from '../lease/lease-rule';
import { claimStands, EVICT_CLAIM_MS } from './evict-rule';
import type {
  EvictClaim,
  EvictedToken,
  Lease,
  LeaseOutcome,
  LeaseResult,
  SharedTier,
  TierItem,
} from './shared-tier';
import type { CachedToken } from './token-store';

interface Entry {
  readonly token?: CachedToken;
  readonly providerId?: string;
  readonly version?: string;
  readonly leaseUntilMs?: number;
  readonly owner?: string;
  readonly failures: number;
  readonly retryAtMs?: number;
  readonly lastError?: ErrorCode;
  readonly failedAtMs?: number;
  readonly evictedBy?: string;
  readonly evictClaim?: string;
  readonly evictClaimUntilMs?: number;
}

export interface InProcessTierOptions {
  readonly clock?: Clock;
  /** Unused since backoff moved to the provider's record (`lease/provider-backoff.ts`). */
  readonly random?: () => number;
  /** Keys kept at most; the least recently written go first. @default 1000 */
  readonly maxEntries?: number;
}

const EMPTY: Entry = { failures: 0 };

/**
 * The shared tier of one process: for a service without a table, and the fallback while the table fails.
 * It persists what the DynamoDB tier persists; what the lease fields mean is {@link classifyLease}'s to say.
 * Expired tokens are dropped when read.
 */
export class InProcessTier implements SharedTier {
  private readonly entries: BoundedMap<string, Entry>;
  private readonly clock: Clock;

  constructor(options: InProcessTierOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.entries = new BoundedMap(options.maxEntries ?? 1000);
  }

  async read(key: string): Promise<TierItem | undefined> {
    const entry = this.live(key);
    if (!entry) return undefined;
    const standing = classifyLease({ leaseUntilMs: entry.leaseUntilMs }, undefined, this.clock.now());
    return {
      leaseUntilMs: standing.kind === 'held' ? standing.leaseUntilMs : 0,
      ...(entry.token && entry.version ? { token: entry.token, version: entry.version } : {}),
      ...(entry.token && entry.providerId ? { providerId: entry.providerId } : {}),
      ...(entry.lastError === undefined ? {} : { lastError: entry.lastError }),
      ...(entry.failedAtMs === undefined ? {} : { failedAtMs: entry.failedAtMs }),
      ...(entry.retryAtMs ? { retryAtMs: entry.retryAtMs } : {}),
    };
  }

  async acquire(key: string, leaseMs: number, seenVersion: string | undefined): Promise<LeaseResult> {
    const nowMs = this.clock.now();
    const entry = this.live(key) ?? EMPTY;
    const standing = classifyLease(entry, seenVersion, nowMs);
    if (standing.kind === 'held') return standing;
    if (standing.kind === 'backing_off') {
      return { kind: 'backoff', retryAtMs: standing.retryAtMs, lastError: standing.lastError };
    }
    if (standing.kind === 'superseded') {
      const item = await this.read(key);
      return item ? { kind: 'superseded', item } : { kind: 'superseded' };
    }
    const owner = randomUUID();
    const { evictedBy: paidBy, ...rest } = entry;
    this.entries.set(key, { ...rest, leaseUntilMs: nowMs + boundedLeaseMs(leaseMs), owner });
    return {
      kind: 'acquired',
      lease: { key, owner, priorFailures: entry.failures, ...(paidBy === undefined ? {} : { paidBy }) },
    };
  }

  async release(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    const entry = this.entries.peek(lease.key);
    const ours = entry?.owner === lease.owner;
    if (outcome.kind === 'succeeded') {
      // A holder whose lease was taken over still writes its token: it is valid, and the other's will follow.
      this.entries.set(lease.key, {
        ...(entry && !ours ? entry : EMPTY),
        token: outcome.token,
        providerId: outcome.providerId,
        version: randomUUID(),
      });
      return;
    }
    if (!entry || !ours) return;
    const { owner: _owner, leaseUntilMs: _until, ...rest } = entry;
    if (outcome.kind === 'abandoned') {
      this.entries.set(lease.key, rest);
      return;
    }
    this.entries.set(lease.key, {
      ...rest,
      failures: 0,
      retryAtMs: outcome.retryAtMs ?? 0,
      lastError: outcome.error,
      failedAtMs: this.clock.now(),
    });
  }

  async store(key: string, token: CachedToken, providerId: string): Promise<void> {
    const { evictedBy: _paid, ...entry } = this.live(key) ?? EMPTY;
    this.entries.set(key, { ...entry, token, providerId, version: randomUUID() });
  }

  async claimEvict(key: string, evicted: EvictedToken, evictedBy: string): Promise<EvictClaim | undefined> {
    // Another region's token never reaches this container's tier: nothing of it here to evict.
    if (evicted.region !== undefined) return undefined;
    const entry = this.entries.peek(key);
    const nowMs = this.clock.now();
    if (!entry || entry.version !== evicted.version || claimStands(entry, nowMs)) return undefined;
    const claim = randomUUID();
    this.entries.set(key, { ...entry, evictClaim: claim, evictClaimUntilMs: nowMs + EVICT_CLAIM_MS });
    return { key, claim, evicted, evictedBy };
  }

  async confirmEvict(claim: EvictClaim): Promise<boolean> {
    const entry = this.entries.peek(claim.key);
    if (!entry || entry.evictClaim !== claim.claim) return false;
    const { evictClaim: _claim, evictClaimUntilMs: _until, ...unclaimed } = entry;
    if (entry.version !== claim.evicted.version) {
      this.entries.set(claim.key, unclaimed);
      return false;
    }
    const { token: _token, version: _version, providerId: _provider, ...rest } = unclaimed;
    this.entries.set(claim.key, { ...rest, evictedBy: claim.evictedBy });
    return true;
  }

  async withdrawEvict(claim: EvictClaim): Promise<void> {
    const entry = this.entries.peek(claim.key);
    if (!entry || entry.evictClaim !== claim.claim) return;
    const { evictClaim: _claim, evictClaimUntilMs: _until, ...unclaimed } = entry;
    this.entries.set(claim.key, unclaimed);
  }

  /**
   * Drops the token of `version` (a copy kept while the table failed, now settled), keeping the lease and
   * backoff: unlike an evict, it records no payment.
   */
  async forget(key: string, version: string): Promise<void> {
    const entry = this.entries.peek(key);
    if (!entry || entry.version !== version) return;
    const { token: _token, version: _version, providerId: _provider, ...rest } = entry;
    this.entries.set(key, rest);
  }

  /** The entry, without a token that has expired; undefined when nothing is left of it. */
  private live(key: string): Entry | undefined {
    const entry = this.entries.peek(key);
    if (!entry?.token || entry.token.expiresAt * 1000 > this.clock.now()) return entry;
    const { token: _expired, version: _version, providerId: _provider, ...rest } = entry;
    this.entries.set(key, rest);
    return rest;
  }
}
