import type { TableCharge } from '../contracts/token-table';
import type { ErrorCode } from '../errors';
import type { CachedToken } from './token-store';

/**
 * The cache every container of the service shares, and its single flight, on one item per key: the token,
 * the version of that token, and — while someone fetches — a lease. DynamoDB is the real one; the
 * in-process tier stands in for it when there is no table or the table fails.
 */
export interface SharedTier {
  /** The key's item as it stands, without taking anything; undefined when there is none. */
  read(key: string): Promise<TierItem | undefined>;
  /**
   * Takes the key's lease unless it is held, the provider is backing off, or the token is no longer the one
   * of `seenVersion` (undefined: the caller saw no token). `toll`: what taking it costs, paid in the same
   * write where the tier can (see {@link LeaseToll}).
   */
  acquire(
    key: string,
    leaseMs: number,
    seenVersion: string | undefined,
    toll?: LeaseToll,
  ): Promise<LeaseResult>;
  /** Ends a lease: on success stores the token and clears the failure count; on failure records it. */
  release(lease: Lease, outcome: LeaseOutcome): Promise<void>;
  /** Stores a token outside any lease (the fallback's write-back once the table answers again). */
  store(key: string, token: CachedToken, providerId: string): Promise<void>;
  /**
   * The first half of an evict: claims the token `evicted` names for the caller whose counter name is
   * `evictedBy`, if it is still the one on the key and no other evict's claim stands. The token stays cached
   * and served until {@link confirmEvict}; the caller is charged in between. Undefined when the item holds
   * another token (renewed, evicted by someone else, or never the named one) or another evict holds it.
   *
   * With several regions an evict also stops this region serving every other token of the key issued no
   * later than the evicted one (own or another region's). `evicted.region` names another region whose item
   * holds the token (the item's {@link TierItem.peer}): that item is its region's alone to write, so the evict
   * is recorded on this region's item; the other region serves it until evicted there or replaced.
   *
   * The answer is the shared table's: {@link SharedTierUnavailable} when the table cannot answer (nothing was
   * claimed there), never a container's own copy standing in for it.
   */
  claimEvict(key: string, evicted: EvictedToken, evictedBy: string): Promise<EvictClaim | undefined>;
  /**
   * The evict, once its caller's charge held: the claimed token goes (a lease or backoff on the key stays),
   * and the evictor is recorded as having paid for the renewal, which the next lease on the key carries.
   * True when it was evicted; false when the claim no longer stands on the item or the token was renewed
   * meanwhile (nothing evicted). {@link SharedTierUnavailable} when the table cannot answer.
   */
  confirmEvict(claim: EvictClaim): Promise<boolean>;
  /**
   * Takes back a claim whose charge was refused: the token stays as it is, and nothing else on the item is
   * written. A claim this does not reach (the table failing) lapses by itself; never throws for that.
   */
  withdrawEvict(claim: EvictClaim): Promise<void>;
}

/**
 * The shared table could not answer an evict (it failed, or this container leaves it alone for a while):
 * nothing was evicted there. Retrying at `retryAtMs` (epoch ms) finds the table tried again.
 */
export class SharedTierUnavailable extends Error {
  override readonly name = 'SharedTierUnavailable';

  constructor(readonly retryAtMs: number) {
    super('the shared table could not answer the evict');
  }
}

export interface TierItem {
  readonly token?: CachedToken;
  /**
   * Changes with every token written on this region's item; the lease condition compares it, never the
   * token itself. It stays this region's item's when the token is another region's (see `peer`).
   */
  readonly version?: string;
  /** The token is another region's, from its replicated item: that region, and its token's version. */
  readonly peer?: PeerToken;
  /** The provider the token was issued by (where a tier keeps it). */
  readonly providerId?: string;
  /** Epoch ms; 0 when nobody holds the lease (a stored lease beyond its bound counts as none). */
  readonly leaseUntilMs: number;
  /** When the last holder gave the lease back after a failure, and which. */
  readonly failedAtMs?: number;
  readonly lastError?: ErrorCode;
  /**
   * Tokens of the key issued at or before this (epoch s) were evicted here (the item's issued floor): none of
   * them is served again, from the table or from a copy a container kept.
   */
  readonly evictedThrough?: number;
  /**
   * This container's own tier answered: the shared table could not be read (it failed, or is left alone
   * until `retryAtMs`). Its version means nothing to the table, so no evict is decided on it.
   */
  readonly standIn?: { readonly retryAtMs: number };
  /** Epoch ms before which nobody asks the provider, as that failure said (its backoff, its Retry-After). */
  readonly retryAtMs?: number;
}

/** The token an evict names: its version on the item that holds it, and its times as the vend read them. */
export interface EvictedToken {
  readonly version: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Another region whose item holds it; absent: this region's own item. */
  readonly region?: string;
}

/** An evict under way: its token claimed on the key's item (see {@link SharedTier.claimEvict}). */
export interface EvictClaim {
  readonly key: string;
  /** Random per evict: what the confirm and the withdrawal name. */
  readonly claim: string;
  readonly evicted: EvictedToken;
  readonly evictedBy: string;
}

export interface PeerToken {
  readonly region: string;
  readonly version: string;
}

/**
 * What taking a lease costs (the holder's budget charges), made part of the lease's own write where a tier
 * can: on the table, one transaction of the lease and each charge, each with its condition, so the lease is
 * taken only with every charge and a charge made only with the lease. A tier that cannot (in process) takes
 * the lease alone and says so ({@link Lease.tollPaid} absent): its holder then pays under the lease.
 */
export interface LeaseToll {
  /**
   * The writes, given who paid for this renewal already (an evicting caller, recorded on the item);
   * undefined when they cannot go with the lease now (the table is left alone, the counter key unreadable).
   */
  charges(paidBy: string | undefined): Promise<readonly TableCharge[] | undefined>;
}

export type LeaseResult =
  | { readonly kind: 'acquired'; readonly lease: Lease }
  /** A charge of the lease's toll was refused (a budget spent): nothing was written; `reason` is the caller's. */
  | { readonly kind: 'refused'; readonly reason: Error }
  /** Another instance is fetching; its lease ends at `leaseUntilMs` (then, if it died, anyone may take over). */
  | { readonly kind: 'held'; readonly leaseUntilMs: number }
  /** The provider failed repeatedly; nobody asks it again before `retryAtMs`. */
  | { readonly kind: 'backoff'; readonly retryAtMs: number; readonly lastError: ErrorCode }
  /** The token changed since the caller read it (renewed or evicted elsewhere): here is the item now. */
  | { readonly kind: 'superseded'; readonly item?: TierItem };

export interface Lease {
  readonly key: string;
  readonly owner: string;
  /**
   * Consecutive failures counted on the key before this lease was taken: no longer counted (backoff is per
   * provider, `lease/provider-backoff.ts`); 0 on every lease written since, kept for the tiers that pass it on.
   */
  readonly priorFailures: number;
  /** The caller whose evict paid for this renewal (the first lease after an eviction only). */
  readonly paidBy?: string;
  /** The lease's toll was paid in the same write as the lease: the holder is charged nothing more. */
  readonly tollPaid?: boolean;
}

export type LeaseOutcome =
  | { readonly kind: 'succeeded'; readonly token: CachedToken; readonly providerId: string }
  /**
   * The work failed; `retryAtMs`: the provider's backoff (or Retry-After) it met, which the key's item
   * keeps so that nobody takes the key's lease to ask before it (0 or absent: anyone may ask again).
   */
  | { readonly kind: 'failed'; readonly error: ErrorCode; readonly retryAtMs?: number }
  /** Given back without asking the provider: nothing to record, the next caller may take it. */
  | { readonly kind: 'abandoned' };
