import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { TOKEN_ITEM } from '../contracts/token-table';
import type { ErrorCode } from '../errors';
import { boundedLeaseMs } from '../lease/lease-rule';
import { type ParsedItem, type Reading, TOKEN_ATTRIBUTES } from './table-item';
import { corruptFloorAndTtl } from './write-rule';

/**
 * The lease write rule, written once: what taking a key's lease writes on its item as read, what giving it
 * back leaves (a failure, an abandon, a seal that failed), and whether a holder's token write still ends its
 * own lease. What the item's lease fields mean is {@link classifyLease}'s; the DynamoDB tier reads the item,
 * asks these functions, and writes what they say under the item's revision as read.
 */

/** A key that has only ever been leased (its first fetch failed) still goes, by TTL, an hour later. */
export const LEASE_ONLY_TTL_SECONDS = 3600;

/**
 * How long a holder's failure to seal tells the other containers that the key service is down: they leave
 * the table alone (as their own failure would make them) instead of each taking the lease in turn.
 */
export const SEAL_FAILURE_NOTICE_MS = 10_000;

/** The TTL of an item a lease or an evict's claim creates: {@link LEASE_ONLY_TTL_SECONDS} from now. */
export const leaseOnlyTtlSeconds = (nowMs: number): number =>
  Math.floor(nowMs / 1000) + LEASE_ONLY_TTL_SECONDS;

/**
 * Whether another holder's seal failure, written at `sealFailedAtMs`, still stands at `nowMs`: fetching under
 * a lease now would end the same way (seal, fail, give back), so nobody takes it. A time ahead of now was
 * not written by this service's clocks and stands for nothing.
 */
export function sealFailureStands(sealFailedAtMs: number | undefined, nowMs: number): boolean {
  return (
    sealFailedAtMs !== undefined && sealFailedAtMs <= nowMs && nowMs - sealFailedAtMs < SEAL_FAILURE_NOTICE_MS
  );
}

/** What a lease's write sets besides its owner and a new revision, and what it removes. */
export interface LeaseWrite {
  readonly leaseUntilMs: number;
  /** The item's TTL for a lease: written over the item's own only where `overwriteTtl`, else if absent. */
  readonly ttlSeconds: number;
  /** A corrupt item's TTL vouches for nothing: the lease writes its own. */
  readonly overwriteTtl: boolean;
  /** Attributes removed: the evictor's payment always; over a corrupt item what was bad and any token too. */
  readonly remove: readonly string[];
  /** The failures counted on the item before the lease (0 over a corrupt item). */
  readonly priorFailures: number;
  /** The caller whose evict paid for the renewal this lease fetches: the item's evictor, if any. */
  readonly paidBy?: string;
}

/** The attributes a lease's write sets: never also removed. */
const WRITTEN: ReadonlySet<string> = new Set([
  TOKEN_ITEM.owner,
  TOKEN_ITEM.leaseUntil,
  TOKEN_ITEM.revision,
  TOKEN_ITEM.expiresAt,
]);

/**
 * What taking the lease for `leaseMs` at `nowMs` writes on the key's item as read: a lease no longer than
 * {@link boundedLeaseMs} allows, a TTL so that an item only ever leased still goes, and the evictor's payment
 * taken off (the first lease after an evict spends it: it pays for one renewal). A corrupt item keeps nothing
 * it cannot vouch for: what was bad, and any token on it, goes; with regions its TTL and issued floor are
 * kept as a corrupt item's rewrite must keep them ({@link corruptFloorAndTtl}).
 */
export function whatLeaseWriteLeaves(
  reading: Reading,
  nowMs: number,
  leaseMs: number,
  options: { readonly regional: boolean },
): LeaseWrite {
  const item = reading.item;
  const regionalCorrupt = reading.corrupt && options.regional ? corruptFloorAndTtl(reading) : undefined;
  const cleared = reading.corrupt
    ? [
        ...reading.corrupt,
        ...TOKEN_ATTRIBUTES,
        ...(regionalCorrupt?.dropFloor ? [TOKEN_ITEM.issuedFloor] : []),
      ]
    : [];
  const remove = new Set([...cleared.filter((name) => !WRITTEN.has(name)), TOKEN_ITEM.evictedBy]);
  return {
    leaseUntilMs: nowMs + boundedLeaseMs(leaseMs),
    ttlSeconds: Math.max(leaseOnlyTtlSeconds(nowMs), regionalCorrupt?.ttlSeconds ?? 0),
    overwriteTtl: reading.corrupt !== undefined,
    remove: [...remove],
    priorFailures: reading.corrupt ? 0 : (item?.failures ?? 0),
    ...(item?.evictedBy === undefined ? {} : { paidBy: item.evictedBy }),
  };
}

/**
 * The item as a lease's write on `reading` left it, the write having applied with `owner` and `revision`:
 * the starting point of its holder's token write, which then needs no read. Undefined over a corrupt item
 * (what the write left of it is not known here: the token's write reads it).
 */
export function itemAfterLease(
  reading: Reading,
  write: LeaseWrite,
  owner: string,
  revision: string,
): Reading | undefined {
  if (reading.corrupt) return undefined;
  const item: ParsedItem = reading.item ?? { generation: 0, floor: 0, failures: 0 };
  const revisionValue: AttributeValue = { S: revision };
  return {
    item: {
      ...item,
      owner,
      leaseUntilMs: write.leaseUntilMs,
      revision: revisionValue,
      ttlSeconds: item.ttlSeconds ?? write.ttlSeconds,
      evictedBy: undefined,
    },
  };
}

/**
 * Whether the item as read still holds the lease its holder wrote (its owner, and the revision that write
 * left): the holder's token write then ends the lease; otherwise someone took over after it ran out, and
 * the token is written all the same while their lease stays.
 */
export function leaseStillOurs(
  item: ParsedItem | undefined,
  holder: { readonly owner: string; readonly revision?: string },
): boolean {
  return (
    holder.revision !== undefined && item?.owner === holder.owner && item.revision?.S === holder.revision
  );
}

/**
 * What giving a lease back writes, under the condition that it is still the holder's: the fields set
 * (absent: not written) and the attributes removed.
 */
export interface LeaseEnd {
  readonly leaseUntilMs?: number;
  readonly retryAtMs?: number;
  readonly lastError?: ErrorCode;
  readonly failedAtMs?: number;
  readonly sealFailedAtMs?: number;
  readonly remove: readonly string[];
}

/**
 * What a failed fetch leaves at `nowMs`: the lease ended, and what the failure said of the provider (its
 * backoff or Retry-After, decided per provider by the work; 0: anyone may ask again) for the waiters and for
 * whoever asks for the lease before it ends. The old count of failures goes (backoff is per provider).
 */
export function whatFailureLeaves(
  failure: { readonly error: ErrorCode; readonly retryAtMs?: number },
  nowMs: number,
): LeaseEnd {
  return {
    leaseUntilMs: 0,
    retryAtMs: failure.retryAtMs ?? 0,
    lastError: failure.error,
    failedAtMs: nowMs,
    remove: [TOKEN_ITEM.failures],
  };
}

/** What a lease given back without asking the provider leaves: no lease, nothing recorded. */
export function whatAbandonLeaves(): LeaseEnd {
  return { remove: [TOKEN_ITEM.owner, TOKEN_ITEM.leaseUntil] };
}

/**
 * What a holder that could not seal its token leaves at `nowMs`: no lease (the table never keeps one its
 * holder has stopped using), and the notice ({@link sealFailureStands}) from which the waiters of other
 * containers learn that they must fetch their own token.
 */
export function whatSealFailureLeaves(nowMs: number): LeaseEnd {
  return { sealFailedAtMs: nowMs, remove: [TOKEN_ITEM.owner, TOKEN_ITEM.leaseUntil] };
}
