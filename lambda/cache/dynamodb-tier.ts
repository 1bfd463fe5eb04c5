import { randomUUID } from 'node:crypto';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BoundedMap } from '../bounded-map';
import { type Clock, systemClock } from '../clock';
import { RegionOwnedKeys, type TableRegions } from '../contracts/region-owned-items';
import { TABLE_CALL_TIMEOUT_MS, TOKEN_ITEM } from '../contracts/token-table';
import { classifyLease } from '../lease/lease-rule';
import type { Log } from '../logging';
import type { CachedToken } from '../model';
import { mayWriteBack } from './evict-rule';
import { EvictWrites } from './evict-writes';
import { leaseWithCharges } from './lease-transaction';
import {
  itemAfterLease,
  type LeaseEnd,
  leaseStillOurs,
  sealFailureStands,
  whatAbandonLeaves,
  whatFailureLeaves,
  whatLeaseWriteLeaves,
  whatSealFailureLeaves,
} from './lease-write-rule';
import { readStillFresh } from './read-rule';
import { readAcrossRegions } from './regional-read';
import type {
  EvictClaim,
  EvictedToken,
  Lease,
  LeaseOutcome,
  LeaseResult,
  LeaseToll,
  SharedTier,
  TierItem,
} from './shared-tier';
import type { Reading } from './table-item';
import {
  type ItemWrite,
  MAX_WRITE_ATTEMPTS,
  seenAsRead,
  TableItems,
  WRITE_RETRY_PAUSE_MS,
} from './table-items';
import { TokenReads } from './token-reads';
import { SealingUnavailableError, type TokenSealer } from './token-sealer';
import { whatTokenWriteKeeps } from './write-rule';

export {
  createTableClient,
  TABLE_CALL_TIMEOUT_MS,
  TableTimeoutError,
  TOKEN_TABLE,
} from '../contracts/token-table';

export interface DynamoDbTierOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly callTimeoutMs?: number;
  /** Seals each token before it is written, opens it when read: the table never holds a token in the clear. */
  readonly sealer: TokenSealer;
  /** Where a sealed token that does not open, or a corrupt item, is reported. */
  readonly log?: Log;
  readonly clock?: Clock;
  /** Unused since backoff moved to the provider's record (`lease/provider-backoff.ts`). */
  readonly random?: () => number;
  /** The deployment's regions: this one's items are written, the others' read. @default one region */
  readonly regions?: TableRegions;
}

/** A lease on the table: the revision its holder wrote, which every later write of the holder names. */
interface TableLease extends Lease {
  readonly revision: string;
  /** The item as the lease's own write left it: the token's write starts from it instead of a read. */
  readonly basis?: Reading;
}

const isTableLease = (lease: Lease): lease is TableLease =>
  typeof (lease as Partial<TableLease>).revision === 'string';

const numberValue = (value: number | undefined): AttributeValue | undefined =>
  value === undefined ? undefined : { N: String(value) };

/**
 * The shared tier on DynamoDB: one item per key, persisted and read; what its lease fields mean is decided
 * by {@link classifyLease} alone.
 *
 * Every write names the item's revision as last read (`rev`, random per write), so a condition never
 * depends on another attribute's type: a refusal means the item changed, and the refused write learns the
 * item as it is now from the refusal itself. Each attribute is read by type (see {@link TableItems.reading}); an item
 * with one of the wrong type or shape is corrupt: logged once per key and container, read as absent, and
 * overwritten by the next lease. Each call makes at most {@link MAX_WRITE_ATTEMPTS} conditional writes,
 * with a pause between them. Every call is bounded by `callTimeoutMs` ({@link TableTimeoutError} past it).
 *
 * A token is sealed with its generation (the count of tokens written on the key); an evict raises the
 * item's floor past it, and a token below the floor never opens again. Every evict also leaves its issued
 * floor (see {@link whatEvictLeaves}), which a container's write-back of a token it kept through a fault
 * must be past ({@link mayWriteBack}).
 *
 * With several regions (see {@link RegionOwnedKeys}) each key has one item per region, and this tier writes
 * only its own region's. A read takes the own item and the other regions' replicated items in one
 * BatchGetItem and serves the longest-lived token of them (the own one on a tie): a token fetched in one
 * region is a table hit in the others once replicated. Lease, backoff, floor and evictions stay the own
 * item's: per region. An evict there also leaves an issued floor that hides every other region's token
 * issued no later, and the item's TTL (`expiresAt`, then apart from the token's `tokenExpiresAt`) outlives
 * the evicted token. Without regions a read is one GetItem, and the item's layout is as it ever was but
 * for the issued floor an evict leaves.
 */
export class DynamoDbTier implements SharedTier {
  private readonly items: TableItems;
  private readonly reads: TokenReads;
  private readonly evicts: EvictWrites;
  private readonly sealer: TokenSealer;
  private readonly clock: Clock;
  private readonly keys: RegionOwnedKeys;
  /** The own item of each key as this container last read it, and when: the next lease's starting point. */
  private readonly lastRead = new BoundedMap<string, { reading: Reading; atMs: number }>(1000);

  constructor(options: DynamoDbTierOptions) {
    this.sealer = options.sealer;
    this.clock = options.clock ?? systemClock;
    this.keys = new RegionOwnedKeys(options.regions);
    this.reads = new TokenReads(this.sealer, this.clock, options.log);
    this.items = new TableItems(
      options.client,
      options.tableName,
      options.callTimeoutMs ?? TABLE_CALL_TIMEOUT_MS,
      this.keys,
      options.log,
    );
    this.evicts = new EvictWrites(this.items, this.clock);
  }

  async read(key: string): Promise<TierItem | undefined> {
    if (!this.keys.hasPeers) {
      const reading = await this.items.get(key);
      this.lastRead.set(key, { reading, atMs: this.clock.now() });
      return reading.item ? this.reads.tierItemOf(key, reading.item) : undefined;
    }
    const { own, peers } = await readAcrossRegions(this.items, key);
    this.lastRead.set(key, { reading: own, atMs: this.clock.now() });
    if (!own.item && peers.length === 0) return undefined;
    return this.reads.tierItemOf(key, own.item, peers);
  }

  async store(key: string, token: CachedToken, providerId: string): Promise<void> {
    let reading = await this.items.get(key);
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const write = await this.tokenWrite(key, token, providerId, reading, 'keep lease');
      const result = await this.items.update('store', key, write);
      if (result.applied) return;
      reading = this.items.reading(key, result.current);
      await this.clock.sleep(WRITE_RETRY_PAUSE_MS * attempt);
    }
  }

  /** An evict's claim (see {@link EvictWrites.claim}). */
  claimEvict(key: string, evicted: EvictedToken, evictedBy: string): Promise<EvictClaim | undefined> {
    return this.evicts.claim(key, evicted, evictedBy);
  }

  /** The evict whose claim stands, once its charge held (see {@link EvictWrites.confirm}). */
  confirmEvict(claim: EvictClaim): Promise<boolean> {
    return this.evicts.confirm(claim);
  }

  /** Takes the claim back (see {@link EvictWrites.withdraw}). */
  withdrawEvict(claim: EvictClaim): Promise<void> {
    return this.evicts.withdraw(claim);
  }

  /**
   * Puts back a token this container kept while the table or the key service failed, on the own item as
   * read, only where {@link mayWriteBack} allows it (never over an evict of it, a token or a lease): the
   * token as the item now holds it, or undefined when refused.
   */
  async writeBack(key: string, token: CachedToken, providerId: string): Promise<TierItem | undefined> {
    let reading = await this.items.get(key);
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      if (reading.corrupt || !mayWriteBack(reading.item, token, this.clock.now())) return undefined;
      const write = await this.tokenWrite(key, token, providerId, reading, 'keep lease');
      const result = await this.items.update('store', key, write);
      if (result.applied) return { token, version: write.version, providerId, leaseUntilMs: 0 };
      reading = this.items.reading(key, result.current);
      await this.clock.sleep(WRITE_RETRY_PAUSE_MS * attempt);
    }
    return undefined;
  }

  /**
   * Takes the lease with a conditional write on the item as last read: the vend's own read of moments ago
   * when it saw the same version (no second read), else a fresh one. A reading that is out of date costs
   * nothing but a refused write, whose refusal carries the item as it is. With a `toll`, the lease and its
   * charges are one transaction (see {@link LeaseToll}).
   */
  async acquire(
    key: string,
    leaseMs: number,
    seenVersion: string | undefined,
    toll?: LeaseToll,
  ): Promise<LeaseResult> {
    let reading = this.readJustNow(key, seenVersion) ?? (await this.items.get(key));
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const nowMs = this.clock.now();
      const item = reading.item;
      if (sealFailureStands(item?.sealFailedAtMs, nowMs)) {
        // Fetching under this lease would end the same way: seal, fail, give back, and the next in line waits.
        throw new SealingUnavailableError(
          'seal',
          Object.assign(new Error('another container could not seal a token of this key moments ago'), {
            name: 'SealedElsewhereUnavailable',
          }),
        );
      }
      const standing = classifyLease(item ?? {}, seenVersion, nowMs);
      if (standing.kind === 'held') return standing;
      if (standing.kind === 'backing_off') {
        return { kind: 'backoff', retryAtMs: standing.retryAtMs, lastError: standing.lastError };
      }
      if (standing.kind === 'superseded') {
        return item
          ? { kind: 'superseded', item: await this.reads.tierItemOf(key, item) }
          : { kind: 'superseded' };
      }
      const owner = randomUUID();
      const revision = randomUUID();
      const leaves = whatLeaseWriteLeaves(reading, nowMs, leaseMs, { regional: this.keys.hasPeers });
      const { condition, values } = seenAsRead(reading);
      const expiry = leaves.overwriteTtl
        ? '#expiresAt = :leaseTtl'
        : '#expiresAt = if_not_exists(#expiresAt, :leaseTtl)';
      const write = {
        update: `SET #owner = :owner, #leaseUntil = :leaseUntil, #rev = :rev, ${expiry} REMOVE ${leaves.remove.map((name) => `#${name}`).join(', ')}`,
        condition,
        values: {
          ...values,
          ':owner': { S: owner },
          ':leaseUntil': { N: String(leaves.leaseUntilMs) },
          ':rev': { S: revision },
          ':leaseTtl': { N: String(leaves.ttlSeconds) },
        },
      };
      const charges = toll ? await toll.charges(item?.evictedBy) : undefined;
      const tolled = charges?.length ? await leaseWithCharges(this.items, key, write, charges) : undefined;
      if (tolled && 'refused' in tolled) return { kind: 'refused', reason: tolled.refused };
      const result =
        tolled && !('undecided' in tolled) ? tolled : await this.items.update('lease', key, write);
      if (result.applied) {
        // What the lease's write left: the token's write names this revision without reading it first.
        const basis = itemAfterLease(reading, leaves, owner, revision);
        const lease: TableLease = {
          key,
          owner,
          revision,
          priorFailures: leaves.priorFailures,
          ...(leaves.paidBy === undefined ? {} : { paidBy: leaves.paidBy }),
          ...(result === tolled ? { tollPaid: true } : {}),
          ...(basis ? { basis } : {}),
        };
        return { kind: 'acquired', lease };
      }
      // The item changed since it was read: the refusal carries it as it is now.
      reading = this.items.reading(key, result.current);
      await this.clock.sleep(WRITE_RETRY_PAUSE_MS * attempt);
    }
    // Others keep changing the key: the caller waits a moment as if it were held, then asks again.
    return { kind: 'held', leaseUntilMs: this.clock.now() + WRITE_RETRY_PAUSE_MS * MAX_WRITE_ATTEMPTS };
  }

  async release(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    if (outcome.kind === 'succeeded') {
      await this.releaseWithToken(lease, outcome.token, outcome.providerId);
      return;
    }
    await this.ifOwner(
      lease,
      outcome.kind === 'abandoned' ? whatAbandonLeaves() : whatFailureLeaves(outcome, this.clock.now()),
    );
  }

  /**
   * Writes the token and gives the lease back in one update. If the lease ran out and someone took over, the
   * token is written all the same (it is valid, and theirs will follow) and their lease stays. If the key
   * service cannot seal it, the lease is given back before the failure is reported: the table never keeps a
   * lease its holder has stopped using, and never a token unsealed.
   */
  private async releaseWithToken(lease: Lease, token: CachedToken, providerId: string): Promise<void> {
    // The item as the lease left it: if anything wrote since, the write is refused and its refusal read.
    let reading = (isTableLease(lease) ? lease.basis : undefined) ?? (await this.items.get(lease.key));
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const ours = leaseStillOurs(reading.item, {
        owner: lease.owner,
        ...(isTableLease(lease) ? { revision: lease.revision } : {}),
      });
      let write: ItemWrite;
      try {
        write = await this.tokenWrite(
          lease.key,
          token,
          providerId,
          reading,
          ours ? 'end lease' : 'keep lease',
        );
      } catch (error) {
        if (error instanceof SealingUnavailableError) {
          // The waiters of other containers learn from the item that they must fetch their own token.
          await this.ifOwner(lease, whatSealFailureLeaves(this.clock.now()));
        }
        throw error;
      }
      const result = await this.items.update('release', lease.key, write);
      if (result.applied) return;
      reading = this.items.reading(lease.key, result.current);
      await this.clock.sleep(WRITE_RETRY_PAUSE_MS * attempt);
    }
  }

  /**
   * The update that writes a sealed token with a new version on the item as last read, keeping what
   * {@link whatTokenWriteKeeps} says.
   */
  private async tokenWrite(
    key: string,
    token: CachedToken,
    providerId: string,
    reading: Reading,
    lease: 'end lease' | 'keep lease',
  ): Promise<ItemWrite & { version: string }> {
    const keeps = whatTokenWriteKeeps(reading, token, { regional: this.keys.hasPeers, lease });
    const sealed = await this.sealer.seal(token, { key, providerId, generation: keeps.generation });
    const set = `SET #sealed = :sealed, #issuedAt = :issuedAt, #expiresAt = :expiresAt, #version = :version, #provider = :provider, #generation = :generation, #rev = :rev${keeps.tokenExpiresAt === undefined ? '' : ', #tokenExpiresAt = :tokenExpiresAt'}`;
    const { condition, values } = seenAsRead(reading);
    const version = randomUUID();
    return {
      version,
      update: `${set} REMOVE ${keeps.remove.map((name) => `#${name}`).join(', ')}`,
      condition,
      values: {
        ...values,
        ':sealed': { B: sealed },
        ':issuedAt': { N: String(token.issuedAt) },
        ':expiresAt': { N: String(keeps.ttlSeconds) },
        ...(keeps.tokenExpiresAt === undefined
          ? {}
          : { ':tokenExpiresAt': { N: String(keeps.tokenExpiresAt) } }),
        ':version': { S: version },
        ':provider': { S: providerId },
        ':generation': { N: String(keeps.generation) },
        ':rev': { S: randomUUID() },
      },
    };
  }

  /** The own item as read for `seenVersion` moments ago (once), or undefined: read it again. */
  private readJustNow(key: string, seenVersion: string | undefined): Reading | undefined {
    const last = this.lastRead.peek(key);
    if (!last) return undefined;
    this.lastRead.delete(key);
    return readStillFresh(last, seenVersion, this.clock.now()) ? last.reading : undefined;
  }

  /** Gives the lease back as `end` says, only while it is still ours; false when someone else's it is now. */
  private async ifOwner(lease: Lease, end: LeaseEnd): Promise<boolean> {
    const fields: [string, AttributeValue | undefined][] = [
      [TOKEN_ITEM.leaseUntil, numberValue(end.leaseUntilMs)],
      [TOKEN_ITEM.retryAt, numberValue(end.retryAtMs)],
      [TOKEN_ITEM.lastError, end.lastError === undefined ? undefined : { S: end.lastError }],
      [TOKEN_ITEM.failedAt, numberValue(end.failedAtMs)],
      [TOKEN_ITEM.sealFailedAt, numberValue(end.sealFailedAtMs)],
    ];
    const set = fields.flatMap(([name, value]): [string, AttributeValue][] =>
      value === undefined ? [] : [[name, value]],
    );
    const update = `SET ${['#rev = :rev', ...set.map(([name]) => `#${name} = :${name}`)].join(', ')} REMOVE ${end.remove.map((name) => `#${name}`).join(', ')}`;
    const result = await this.items.update('release', lease.key, {
      update,
      condition: '#owner = :owner',
      values: {
        ...Object.fromEntries(set.map(([name, value]) => [`:${name}`, value])),
        ':owner': { S: lease.owner },
        ':rev': { S: randomUUID() },
      },
    });
    return result.applied;
  }
}
