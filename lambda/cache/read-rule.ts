import { classifyLease } from '../lease/lease-rule';
import type { CachedToken } from '../model';
import type { PeerToken, TierItem } from './shared-tier';
import type { ParsedItem, Reading } from './table-item';

/**
 * The read rule, written once: which token of a key's item is worth opening, what a read reports of the
 * item, and when a read of moments ago may stand in for another. The DynamoDB tier reads the items, opens
 * the tokens these functions name and reports what they say; they decide nothing else. Which other
 * regions' tokens are asked about at all is the peer rule's to say.
 */

/**
 * How long an own item as read stays the starting point of a lease taken on it: the read of the vend that
 * found no token, moments before. Older, the lease reads the item again.
 */
export const READ_REUSE_MS = 1000;

/** A sealed token of an item, and what its seal binds: the tier opens it. */
export interface TokenToOpen {
  readonly sealed: Uint8Array;
  readonly providerId: string;
  readonly times: { readonly issuedAt: number; readonly expiresAt: number };
  readonly generation: number;
}

/**
 * The item's token to open at `nowMs`: none when the item holds no whole token or it has expired (TTL
 * deletes late); refused when it is below the item's floor (evicted, then put back: it never opens again,
 * and is reported as a token that does not open).
 */
export function tokenToOpen(
  item: ParsedItem,
  nowMs: number,
):
  | { kind: 'none' }
  | { kind: 'refused'; reason: string; providerId: string }
  | ({ kind: 'open' } & TokenToOpen) {
  const { sealed, provider, issuedAt, expiresAt, version } = item;
  if (!sealed || !provider || issuedAt === undefined || expiresAt === undefined || !version)
    return { kind: 'none' };
  if (expiresAt <= nowMs / 1000) return { kind: 'none' };
  if (item.generation < item.floor)
    return { kind: 'refused', reason: 'a token below the floor an evict left', providerId: provider };
  return {
    kind: 'open',
    sealed,
    providerId: provider,
    times: { issuedAt, expiresAt },
    generation: item.generation,
  };
}

/**
 * What a read reports of the own item at `nowMs`, `token` being the token served (the own one opened, or
 * the peer's that outlives it, named by `peer`): a lease only while it means something (live and within
 * its bound, see the lease rule); the version even when the token has expired, so the lease condition can
 * still name it; the issued floor as `evictedThrough`; the last failure and its backoff as written.
 */
export function whatReadReports(
  item: ParsedItem | undefined,
  served: { readonly token?: CachedToken; readonly peer?: PeerToken },
  nowMs: number,
): TierItem {
  const standing = classifyLease({ leaseUntilMs: item?.leaseUntilMs }, undefined, nowMs);
  return {
    leaseUntilMs: standing.kind === 'held' ? standing.leaseUntilMs : 0,
    ...(item?.version ? { version: item.version } : {}),
    ...(served.token ? { token: served.token } : {}),
    ...(served.peer ? { peer: served.peer } : {}),
    ...(item?.issuedFloor === undefined ? {} : { evictedThrough: item.issuedFloor }),
    ...(item?.failedAtMs === undefined ? {} : { failedAtMs: item.failedAtMs }),
    ...(item?.lastError === undefined ? {} : { lastError: item.lastError }),
    ...(item?.retryAtMs ? { retryAtMs: item.retryAtMs } : {}),
  };
}

/**
 * Whether the own item as last read at `readAtMs` may be a lease's starting point at `nowMs` instead of a
 * new read: read no more than {@link READ_REUSE_MS} ago, and holding the version the caller saw. A reading
 * out of date would cost nothing but a refused write; this only spares the read.
 */
export function readStillFresh(
  last: { readonly reading: Reading; readonly atMs: number },
  seenVersion: string | undefined,
  nowMs: number,
): boolean {
  return nowMs - last.atMs <= READ_REUSE_MS && last.reading.item?.version === seenVersion;
}
