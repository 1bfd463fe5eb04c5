import type { Lease, LeaseToll, SharedTier, TierItem } from '../cache/shared-tier';
import type { Clock } from '../clock';
import { type ErrorCode, VendError } from '../errors';
import type { CachedToken } from '../model';

/**
 * One piece of work per key across every container, as Powertools' idempotency persistence runs one
 * execution per idempotency key: take the key's lease, or wait for whoever holds it. It knows nothing of
 * callers, freshness or lifetimes: the caller decides what a token found on the key is worth to it. A
 * vend uses it, and so may anything else that renews a key (a background refresher), outside any vend.
 */

/** What the work under the lease is told: who paid for it (the first lease after an eviction). */
export interface HeldLease {
  readonly paidBy?: string;
  /** The work's toll was paid with the lease (see {@link LeaseToll}): the work charges nothing more. */
  readonly tollPaid?: boolean;
}

/** What the work produced: the token the lease hands to everyone waiting on it, and the work's own answer. */
export interface LeaseWorkResult<T> {
  readonly token: CachedToken;
  readonly providerId: string;
  readonly value: T;
}

/** The work, and what taking the lease for it costs, where the tier can charge it with the lease. */
export type LeaseWork<T> = ((held: HeldLease) => Promise<LeaseWorkResult<T>>) & { readonly toll?: LeaseToll };

/**
 * The work gave up before it asked anyone (its caller may not spend the request): the lease goes back with
 * nothing recorded, so a waiter may take it, and `cause` is what the caller of the lease gets.
 */
export class LeaseAbandoned extends Error {
  constructor(readonly reason: unknown) {
    super('lease abandoned');
  }
}

export type LeaseAnswer<T> =
  /** This caller held the lease and did the work. */
  | { readonly kind: 'done'; readonly value: T }
  /** The key's token is no longer the one of `seenVersion` (written or evicted elsewhere): here it is. */
  | { readonly kind: 'superseded'; readonly item?: TierItem }
  /** Someone else holds the lease (only from {@link KeyLease.ifFree}, which does not wait). */
  | { readonly kind: 'held' }
  /** The provider failed repeatedly; nobody asks it again before `retryAtMs`. */
  | { readonly kind: 'backoff'; readonly retryAtMs: number; readonly lastError: ErrorCode }
  /**
   * The holder this caller waited on gave the lease back after failing, with this error; nobody asks the
   * provider before `retryAtMs` (when the failure said so).
   */
  | { readonly kind: 'failed'; readonly error: ErrorCode; readonly retryAtMs?: number }
  /** The wait ran out (`untilMs`, or the round bound) with no answer. */
  | { readonly kind: 'timed_out' };

export interface LeaseBounds {
  /** How long the lease is taken for; a holder that dies frees the key after it. */
  readonly leaseMs: number;
  /** Epoch ms after which waiting ends. */
  readonly untilMs: number;
}

/** Rounds of asking the tier one wait makes at most, whatever the tier answers; each after a pause. */
export const MAX_LEASE_ROUNDS = 20;
const FIRST_POLL_MS = 25;
const LONGEST_POLL_MS = 200;

export class KeyLease {
  constructor(private readonly parts: { readonly tier: SharedTier; readonly clock: Clock }) {}

  /**
   * Runs `work` under the key's lease if the token is still the one of `seenVersion` (undefined: the caller
   * saw none); else waits for the holder's answer, or takes over once its lease runs out.
   *
   * A caller waits within `untilMs`, with one exception that makes a dead holder cost no caller its answer:
   * the first lease it sees run out with no answer (its holder was killed: SIGKILL, a Lambda timeout, an
   * out-of-memory kill) is always followed by a takeover attempt, however late; the caller then holds the
   * lease itself, or waits for the answer of whoever took over, to the end of that lease. A second lease
   * that runs out unanswered ends the wait: at most one lease plus one fetch beyond the caller's own wait.
   */
  async once<T>(
    key: string,
    seenVersion: string | undefined,
    work: LeaseWork<T>,
    bounds: LeaseBounds,
  ): Promise<LeaseAnswer<T>> {
    const { clock, tier } = this.parts;
    let untilMs = bounds.untilMs;
    /** Leases this caller waited on that ran out with no answer. */
    let lapsed = 0;
    /** The lease last waited on has just run out unanswered: the next attempt is the takeover. */
    let takingOver = false;
    for (let round = 1; round <= MAX_LEASE_ROUNDS; round++) {
      const firstTakeover = takingOver && lapsed === 1;
      if (clock.now() >= untilMs && !firstTakeover) break;
      const askedAt = clock.now();
      const result = await tier.acquire(key, bounds.leaseMs, seenVersion, work.toll);
      if (result.kind === 'acquired') return this.runHeld(result.lease, work);
      if (result.kind === 'refused') throw result.reason;
      if (result.kind === 'superseded')
        return result.item ? { kind: 'superseded', item: result.item } : result;
      if (result.kind === 'backoff') return result;
      // Someone took over the dead holder's lease first: its answer is this caller's, to its lease's end.
      if (firstTakeover) untilMs = Math.max(untilMs, result.leaseUntilMs);
      const waited = await this.waitForHolder(
        key,
        seenVersion,
        askedAt,
        Math.min(result.leaseUntilMs, untilMs),
      );
      if (waited) return waited;
      // The lease ran out without an answer (its holder died), or was given back early with nothing recorded.
      takingOver = clock.now() >= result.leaseUntilMs;
      if (takingOver) lapsed += 1;
    }
    return { kind: 'timed_out' };
  }

  /** Runs `work` under the key's lease only if nobody holds it; never waits. */
  async ifFree<T>(
    key: string,
    seenVersion: string | undefined,
    work: LeaseWork<T>,
    leaseMs: number,
  ): Promise<LeaseAnswer<T>> {
    const result = await this.parts.tier.acquire(key, leaseMs, seenVersion, work.toll);
    if (result.kind === 'acquired') return this.runHeld(result.lease, work);
    if (result.kind === 'refused') throw result.reason;
    if (result.kind === 'held') return { kind: 'held' };
    if (result.kind === 'superseded') return result.item ? { kind: 'superseded', item: result.item } : result;
    return result;
  }

  /** The lease goes back with the work's answer: its token (for every waiter), or its failure (shared too). */
  private async runHeld<T>(lease: Lease, work: LeaseWork<T>): Promise<LeaseAnswer<T>> {
    const { tier } = this.parts;
    let result: LeaseWorkResult<T>;
    try {
      result = await work(lease);
    } catch (error) {
      if (error instanceof LeaseAbandoned) {
        await tier.release(lease, { kind: 'abandoned' });
        throw error.reason;
      }
      const code = error instanceof VendError ? error.code : 'internal_error';
      const retryAtMs = error instanceof VendError ? error.details.retryAtMs : undefined;
      await tier.release(lease, {
        kind: 'failed',
        error: code,
        ...(retryAtMs !== undefined && retryAtMs > this.parts.clock.now() ? { retryAtMs } : {}),
      });
      throw error;
    }
    await tier.release(lease, { kind: 'succeeded', token: result.token, providerId: result.providerId });
    return { kind: 'done', value: result.value };
  }

  /**
   * Polls the key's item until the holder's token appears (a new version), the holder gives the lease back
   * after a failure, or the lease runs out (undefined: the holder died; the caller may take over).
   */
  private async waitForHolder(
    key: string,
    seenVersion: string | undefined,
    since: number,
    untilMs: number,
  ): Promise<LeaseAnswer<never> | undefined> {
    const { clock, tier } = this.parts;
    let pause = FIRST_POLL_MS;
    while (clock.now() < untilMs) {
      await clock.sleep(Math.min(pause, Math.max(1, untilMs - clock.now())));
      pause = Math.min(pause * 2, LONGEST_POLL_MS);
      const item = await tier.read(key);
      if (item?.token && item.version !== seenVersion) return { kind: 'superseded', item };
      if (item && item.leaseUntilMs > clock.now()) continue;
      if (item?.lastError !== undefined && (item.failedAtMs ?? 0) >= since) {
        return {
          kind: 'failed',
          error: item.lastError,
          ...(item.retryAtMs === undefined ? {} : { retryAtMs: item.retryAtMs }),
        };
      }
      if (item?.version !== seenVersion) return item ? { kind: 'superseded', item } : { kind: 'superseded' };
      return undefined;
    }
    return undefined;
  }
}
