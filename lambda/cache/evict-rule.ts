import { TOKEN_ITEM } from '../contracts/token-table';
import { classifyLease } from '../lease/lease-rule';
import type { CachedToken } from '../model';
import type { EvictedToken } from './shared-tier';
import { type ParsedItem, type Reading, TOKEN_ATTRIBUTES } from './table-item';
import { corruptFloorAndTtl } from './write-rule';

/**
 * The evict rule, written once: what an evict leaves on a key's item, and when a token a container kept for
 * itself while the table failed may go back on it. The DynamoDB tier reads the item, asks these functions,
 * and writes what they say under the item's revision as read; they decide nothing else.
 *
 * Every evict leaves the evicted token's `issuedAt` on the item as its issued floor (the latest of the
 * evicts: it never falls). With several regions the floor also hides every other region's token issued no
 * later; in every deployment it is what a write-back is refused by: a token issued no later than one evicted
 * from the item is never put back on it, by whoever kept it through whatever fault.
 */

/**
 * How long past the evicted token's expiry an item keeps an issued floor (several regions): far longer than
 * replication normally lags (seconds; alarmed past 60 s) and than any clock skew between regions.
 */
export const FLOOR_GRACE_SECONDS = 3600;

/**
 * How long an evict's claim stands: far longer than its charge (at most three bounded counter writes, 1 s
 * each), so it ends by its evictor's confirm or withdrawal; one whose evictor died lapses after it, and a
 * claim standing longer than it (a clock ahead, a hand-written item) is as good as none.
 */
export const EVICT_CLAIM_MS = 10_000;

/** What an evict writes on the region's own item, besides the evictor and a new revision. */
export interface EvictWrite {
  /** The evicted token's `issuedAt`, or the floor already there if later. */
  readonly issuedFloor: number;
  /** The own token goes: its generation floor, past which a token put back does not open. */
  readonly generationFloor?: number;
  /** The item's TTL (several regions): at least the evicted token's expiry plus {@link FLOOR_GRACE_SECONDS}. */
  readonly ttlSeconds?: number;
  /** The attributes removed: the own token's, when it goes. */
  readonly remove: readonly string[];
}

/**
 * What an evict of `evicted` over the region's own item leaves: the issued floor never falls, and the TTL
 * never moves earlier than the evicted token's expiry plus {@link FLOOR_GRACE_SECONDS}.
 */
export function floorAfterEvict(
  kept: { readonly issuedFloor?: number; readonly ttlSeconds?: number },
  evicted: EvictedToken,
): { issuedFloor: number; ttlSeconds: number } {
  return {
    issuedFloor: Math.max(kept.issuedFloor ?? evicted.issuedAt, evicted.issuedAt),
    ttlSeconds: Math.max(kept.ttlSeconds ?? 0, Math.ceil(evicted.expiresAt) + FLOOR_GRACE_SECONDS),
  };
}

/**
 * What an evict of `evicted` leaves on the key's own item as read (a sound one), or undefined when the evict
 * does not apply: the own token named is not the item's (its version and `issuedAt` both), or, with regions,
 * the floor already covers the named peer token (another caller's evict of it applied first: one is charged).
 *
 * One region: the token goes, its generation floor rises past it, and the issued floor records it; the TTL
 * stays the token's. Several regions: the issued floor rises to the evicted token's `issuedAt`, an own token
 * it covers goes as above, and the TTL outlives the evicted token (see {@link floorAfterEvict}).
 */
export function whatEvictLeaves(
  item: ParsedItem | undefined,
  evicted: EvictedToken,
  regional: boolean,
): EvictWrite | undefined {
  if (evicted.region === undefined) {
    if (item?.version === undefined || item.version !== evicted.version || item.issuedAt !== evicted.issuedAt)
      return undefined;
  } else if (!regional || (item?.issuedFloor !== undefined && item.issuedFloor >= evicted.issuedAt)) {
    return undefined;
  }
  if (!regional) {
    return {
      issuedFloor: Math.max(item?.issuedFloor ?? evicted.issuedAt, evicted.issuedAt),
      generationFloor: (item?.generation ?? 0) + 1,
      remove: TOKEN_ATTRIBUTES,
    };
  }
  const floor = floorAfterEvict(item ?? {}, evicted);
  const ownGoes =
    item?.version !== undefined && item.issuedAt !== undefined && item.issuedAt <= floor.issuedFloor;
  return {
    ...floor,
    ...(ownGoes ? { generationFloor: (item?.generation ?? 0) + 1 } : {}),
    remove: ownGoes ? [...TOKEN_ATTRIBUTES, TOKEN_ITEM.tokenExpiresAt] : [],
  };
}

/**
 * What an evict of a peer token over a corrupt own item leaves (several regions): what was bad and any own
 * token go, as a lease's overwrite does; the issued floor and TTL are written as on a sound item, from what
 * of them did read (a bad TTL takes the floor with it: see {@link corruptFloorAndTtl}).
 */
export function whatEvictLeavesOverCorrupt(reading: Reading, evicted: EvictedToken): EvictWrite {
  const { ttlSeconds, dropFloor } = corruptFloorAndTtl(reading);
  const kept = reading.remains?.issuedFloor;
  const floor = floorAfterEvict(
    {
      ...(dropFloor || kept === undefined ? {} : { issuedFloor: kept }),
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
    },
    evicted,
  );
  const written = new Set<string>([
    TOKEN_ITEM.issuedFloor,
    TOKEN_ITEM.evictedBy,
    TOKEN_ITEM.revision,
    TOKEN_ITEM.expiresAt,
  ]);
  const remove = [
    ...new Set([...(reading.corrupt ?? []), ...TOKEN_ATTRIBUTES, TOKEN_ITEM.tokenExpiresAt]),
  ].filter((name) => !written.has(name));
  return { ...floor, remove };
}

/**
 * Whether a token this container kept while the table or the key service failed may go back on the key's
 * own item as read: only onto an item that holds no live token and no live lease (someone else's answer is
 * coming), and that no evict of this token, or of one issued after it, has left its floor on. An item an
 * evict left before issued floors were written (`evictedBy` alone) tells not which token it evicted: nothing
 * goes back on it either. Undefined: no item at all.
 */
export function mayWriteBack(item: ParsedItem | undefined, token: CachedToken, nowMs: number): boolean {
  if (item === undefined) return true;
  if (item.version !== undefined && (item.expiresAt ?? 0) > nowMs / 1000) return false;
  if (classifyLease({ leaseUntilMs: item.leaseUntilMs }, undefined, nowMs).kind === 'held') return false;
  if (item.issuedFloor !== undefined) return token.issuedAt > item.issuedFloor;
  return item.evictedBy === undefined;
}

/** An item's evict claim, as a tier keeps it. */
export interface ClaimOnItem {
  readonly evictClaim?: string;
  readonly evictClaimUntilMs?: number;
}

/**
 * Whether another evict's claim stands on the item: one written for at most {@link EVICT_CLAIM_MS} that has
 * not lapsed. `ours` is never another's.
 */
export function claimStands(item: ClaimOnItem | undefined, nowMs: number, ours?: string): boolean {
  const until = item?.evictClaimUntilMs;
  if (item?.evictClaim === undefined || item.evictClaim === ours || until === undefined) return false;
  return until > nowMs && until - nowMs <= EVICT_CLAIM_MS;
}

/**
 * Whether an evict of `evicted` may claim the key's own item as read (a sound one): the evict applies to it
 * ({@link whatEvictLeaves}) and no other evict's claim stands. Of many evictors of one token, the one whose
 * claim is written first is charged; the others are refused until it is settled.
 */
export function mayClaimEvict(
  item: ParsedItem | undefined,
  evicted: EvictedToken,
  regional: boolean,
  nowMs: number,
): boolean {
  return !claimStands(item, nowMs) && whatEvictLeaves(item, evicted, regional) !== undefined;
}

/**
 * What the evict whose claim is `claim` leaves once its charge held, on the own item as read: what
 * {@link whatEvictLeaves} says, while the item still carries that claim; undefined when it does not (it
 * lapsed and another evict took the item) or the evict no longer applies (the token was renewed meanwhile).
 */
export function whatConfirmLeaves(
  item: ParsedItem | undefined,
  claim: string,
  evicted: EvictedToken,
  regional: boolean,
): EvictWrite | undefined {
  if (item?.evictClaim !== claim) return undefined;
  return whatEvictLeaves(item, evicted, regional);
}
