import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock';
import type { RegionOwnedKeys } from '../contracts/region-owned-items';
import { TOKEN_ITEM } from '../contracts/token-table';
import {
  claimStands,
  EVICT_CLAIM_MS,
  type EvictWrite,
  mayClaimEvict,
  whatConfirmLeaves,
  whatEvictLeavesOverCorrupt,
} from './evict-rule';
import { leaseOnlyTtlSeconds } from './lease-write-rule';
import type { EvictClaim, EvictedToken } from './shared-tier';
import type { Reading } from './table-item';
import {
  MAX_WRITE_ATTEMPTS,
  type Seen,
  seenOverCorrupt,
  type TableItems,
  unchanged,
  WRITE_RETRY_PAUSE_MS,
  type WriteResult,
} from './table-items';

/**
 * An evict's writes on the region's own item, in its two halves (see {@link SharedTier.claimEvict}): the
 * claim, then, once its charge held, the evict itself or the claim taken back. What each may write is the
 * evict rule's to say; these only write it under the item's revision as read, retrying as the tier does.
 */
export class EvictWrites {
  private readonly keys: RegionOwnedKeys;

  constructor(
    private readonly items: TableItems,
    private readonly clock: Clock,
  ) {
    this.keys = items.keys;
  }

  /**
   * An evict's claim, on the own item as read (its revision): written where {@link mayClaimEvict} allows it.
   * Refused when the token was renewed or evicted by someone else since it was read, when another evict's
   * claim stands, or when the item's token is not the named one (a caller's memory copy the read did not
   * show): not the token the caller meant. With regions, a peer token over a corrupt own item is claimed on
   * the item as it is (its confirm rewrites it: {@link EvictWrites.overCorrupt}); an own token named over a corrupt
   * item is never the item's. The claim changes nothing a read serves.
   */
  async claim(key: string, evicted: EvictedToken, evictedBy: string): Promise<EvictClaim | undefined> {
    const { region } = evicted;
    if (region !== undefined && !this.keys.peers(key).some((peer) => peer.region === region))
      return undefined;
    const claim = randomUUID();
    let reading = await this.items.get(key);
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const nowMs = this.clock.now();
      let seen: Seen;
      if (reading.corrupt) {
        // It names no own token; a peer token is served past it, and no miss comes to overwrite it: the evict does.
        if (region === undefined || !this.keys.hasPeers || claimStands(reading.remains, nowMs))
          return undefined;
        seen = seenOverCorrupt(reading);
      } else {
        if (!mayClaimEvict(reading.item, evicted, this.keys.hasPeers, nowMs)) return undefined;
        seen = unchanged(reading.item);
      }
      const result = await this.items.update('evict', key, {
        update:
          'SET #evictClaim = :evictClaim, #evictClaimUntil = :evictClaimUntil, #rev = :rev, #expiresAt = if_not_exists(#expiresAt, :claimTtl)',
        condition: seen.condition,
        values: {
          ...seen.values,
          ':evictClaim': { S: claim },
          ':evictClaimUntil': { N: String(nowMs + EVICT_CLAIM_MS) },
          ':rev': { S: randomUUID() },
          ':claimTtl': { N: String(leaseOnlyTtlSeconds(nowMs)) },
        },
      });
      if (result.applied) return { key, claim, evicted, evictedBy };
      reading = this.items.reading(key, result.current);
      await this.clock.sleep(WRITE_RETRY_PAUSE_MS * attempt);
    }
    return undefined;
  }

  /**
   * The evict whose claim stands, once its charge held, on the own item as read: what
   * {@link whatConfirmLeaves} says, the evictor as payer, and the claim gone. A write that changed the item
   * since the claim (a lease taken, a failure recorded) only makes it read again; a token renewed meanwhile
   * ends it unevicted, and its claim is taken back.
   */
  async confirm(claim: EvictClaim): Promise<boolean> {
    const { key, evicted, evictedBy } = claim;
    let reading = await this.items.get(key);
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      let result: WriteResult;
      if (reading.corrupt) {
        if (reading.remains?.evictClaim !== claim.claim) return false;
        result = await this.overCorrupt(key, reading, evicted, evictedBy);
      } else {
        const leaves = whatConfirmLeaves(reading.item, claim.claim, evicted, this.keys.hasPeers);
        if (!leaves) {
          await this.withdraw(claim);
          return false;
        }
        result = await this.write(key, leaves, evictedBy, unchanged(reading.item));
      }
      if (result.applied) return true;
      reading = this.items.reading(key, result.current);
      await this.clock.sleep(WRITE_RETRY_PAUSE_MS * attempt);
    }
    return false;
  }

  /** Takes the claim off the item while it is still this one: nothing else is written, the token stays. */
  async withdraw(claim: EvictClaim): Promise<void> {
    // The claim is random per evict: naming it is naming the item as the claim left it, whatever else changed.
    await this.items.update('evict', claim.key, {
      update: 'SET #rev = :rev REMOVE #evictClaim, #evictClaimUntil',
      condition: '#evictClaim = :evictClaim',
      values: { ':evictClaim': { S: claim.claim }, ':rev': { S: randomUUID() } },
    });
  }

  /**
   * An evict of a peer token over a corrupt own item: what was bad and any own token go (as a lease's
   * overwrite does), the issued floor and TTL are written as on a sound item. Conditioned on the revision as
   * read, so of concurrent evictors one applies (the others find the floor and are refused).
   */
  private async overCorrupt(
    key: string,
    reading: Reading,
    evicted: EvictedToken,
    evictedBy: string,
  ): Promise<WriteResult> {
    return this.write(key, whatEvictLeavesOverCorrupt(reading, evicted), evictedBy, seenOverCorrupt(reading));
  }

  /**
   * The evict's write on the region's own item: what {@link whatEvictLeaves} said, the evictor and a new
   * revision, under the caller's condition.
   */
  private write(key: string, leaves: EvictWrite, evictedBy: string, seen: Seen): Promise<WriteResult> {
    const set = [
      '#issuedFloor = :issuedFloor',
      '#evictedBy = :evictedBy',
      '#rev = :rev',
      ...(leaves.ttlSeconds === undefined ? [] : ['#expiresAt = :ttl']),
      ...(leaves.generationFloor === undefined ? [] : ['#floor = :floor']),
    ];
    // The evict ends its claim.
    const removed = new Set([...leaves.remove, TOKEN_ITEM.evictClaim, TOKEN_ITEM.evictClaimUntil]);
    const remove = ` REMOVE ${[...removed].map((name) => `#${name}`).join(', ')}`;
    return this.items.update('evict', key, {
      update: `SET ${set.join(', ')}${remove}`,
      condition: seen.condition,
      values: {
        ...seen.values,
        ':issuedFloor': { N: String(leaves.issuedFloor) },
        ':evictedBy': { S: evictedBy },
        ':rev': { S: randomUUID() },
        ...(leaves.ttlSeconds === undefined ? {} : { ':ttl': { N: String(leaves.ttlSeconds) } }),
        ...(leaves.generationFloor === undefined ? {} : { ':floor': { N: String(leaves.generationFloor) } }),
      },
    });
  }
}
