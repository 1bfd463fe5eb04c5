import type { SharedTier, TierItem } from './cache/shared-tier';
import type { CachedToken, TokenStore } from './cache/token-store';
import type { Clock } from './clock';
import { type ErrorCode, VendError } from './errors';
import type { KnownLifetimes } from './known-lifetimes';
import { MAX_BACKOFF_MS } from './lease/lease-rule';
import type { Log } from './logging';
import type { UpstreamGrant } from './upstream-grant';
import type { VendContext } from './vend-context';
import type { CacheOutcome, VendOutcome } from './vend-outcome';

export interface LeasedFetchParts {
  readonly tier: SharedTier;
  readonly memory: TokenStore;
  readonly grant: UpstreamGrant;
  readonly lifetimes: KnownLifetimes;
  readonly log: Log;
  readonly clock: Clock;
  /** How long a caller may wait for another instance's fetch; also the longest lease. */
  readonly waitBudgetMs: number;
}

/** Errors after which a cached token that still meets the caller's min_ttl is served instead. */
const SERVE_WHILE_VALID: ReadonlySet<ErrorCode> = new Set([
  'upstream_rejected',
  'upstream_invalid_response',
  'upstream_unavailable',
  'upstream_timeout',
  'service_unavailable',
  'throttled',
]);

/** Rounds of asking the tier one wait makes at most, whatever the tier answers; each after a pause. */
const MAX_LEASE_ROUNDS = 20;
const ROUND_PAUSE_MS = 25;

/** What the caller had before asking: the best cached token, and where it came from. */
interface Cached {
  readonly token?: CachedToken;
  readonly source: CacheOutcome;
}

/**
 * The shared tier's answer for a key this container could not serve from memory: its token when fresh;
 * else one fetch under the key's lease, whoever holds it; renewal ahead of expiry by one caller while the
 * others are served; and a failing provider's error only when no cached token still meets the caller's need.
 */
export class LeasedFetch {
  constructor(private readonly parts: LeasedFetchParts) {}

  async resolve(
    context: VendContext,
    remembered: CachedToken | undefined,
    publish: (early: VendOutcome) => void,
  ): Promise<VendOutcome> {
    const { freshness } = context;
    const item = await this.parts.tier.read(context.key);
    const stored = this.noted(context, item?.token);
    const best = longestLived(remembered, stored);
    const cached: Cached = { ...(best ? { token: best } : {}), source: best === stored ? 'table' : 'memory' };
    // A token too short to be worth caching was stored only for the callers waiting on its fetch.
    const nowSeconds = this.nowSeconds();
    if (!best || !freshness.isFresh(best, nowSeconds) || !freshness.isWorthCaching(best, nowSeconds)) {
      return this.fetchOrWait(context, cached, item?.version);
    }

    if (best === stored) await this.remember(context, best);
    if (!freshness.isRefreshDue(best, this.nowSeconds())) return { token: best, cache: cached.source };
    // Refresh ahead: whoever wins the lease renews; everyone else keeps the still-valid token.
    const result = await this.parts.tier.acquire(context.key, this.leaseMs(context), item?.version);
    const renewed = result.kind === 'superseded' ? this.noted(context, result.item?.token) : undefined;
    if (renewed && freshness.isFresh(renewed, this.nowSeconds())) return this.fromTable(context, renewed);
    if (result.kind !== 'acquired') return { token: best, cache: cached.source };
    // Callers of this container who joined this renewal take the current token and go.
    publish({ token: best, cache: cached.source });
    return this.fetchUnderLease(context, result.lease, 'refresh', cached);
  }

  private async fetchOrWait(
    context: VendContext,
    cached: Cached,
    version: string | undefined,
  ): Promise<VendOutcome> {
    const { clock, tier, waitBudgetMs } = this.parts;
    const now = () => clock.now();
    const deadline = now() + waitBudgetMs;
    // The token's version as this caller last saw it: the lease is taken only if it is still that one.
    let seen = version;
    for (let round = 1; ; round++) {
      if (now() >= deadline || round > MAX_LEASE_ROUNDS) {
        throw new VendError(
          'upstream_timeout',
          `Waited ${waitBudgetMs} ms for another instance to fetch the token.`,
        );
      }
      const askedAt = now();
      const result = await tier.acquire(context.key, this.leaseMs(context), seen);
      if (result.kind === 'acquired') return this.fetchUnderLease(context, result.lease, 'miss', cached);
      if (result.kind === 'superseded') {
        // Another instance stored a token (or evicted one) since we read: its answer is ours if it serves.
        const token = this.noted(context, result.item?.token);
        if (token && context.freshness.isUsable(token, this.nowSeconds()))
          return this.fromTable(context, token);
        seen = result.item?.version;
        await clock.sleep(ROUND_PAUSE_MS);
        continue;
      }
      if (result.kind === 'backoff') {
        const error = new VendError(
          'upstream_unavailable',
          `Provider "${context.provider.id}" failed repeatedly (${result.lastError}); it is left alone until it recovers.`,
          {
            retryAfterSeconds: Math.min(
              MAX_BACKOFF_MS / 1000,
              Math.max(1, Math.ceil((result.retryAtMs - now()) / 1000)),
            ),
          },
        );
        return this.serveWhileValid(context, cached, error);
      }
      const waited = await this.waitForHolder(
        context,
        askedAt,
        Math.min(result.leaseUntilMs, deadline),
        seen,
      );
      if (waited.token) return this.fromTable(context, waited.token);
      if (waited.failed) {
        const error = new VendError(
          waited.failed,
          `Fetching this token failed moments ago for another caller (${waited.failed}).`,
          waited.failed === 'upstream_unavailable' || waited.failed === 'service_unavailable'
            ? { retryAfterSeconds: 1 }
            : {},
        );
        return this.serveWhileValid(context, cached, error);
      }
      seen = waited.version;
      // The holder's lease ran out without a token (it died, or gave the lease back): try to take over.
    }
  }

  /**
   * Polls the key's item until the lease holder's token appears (a new version: its answer, fresh or not,
   * is ours if it meets our need), the holder gives the lease back after a failure (its error is ours too),
   * or the lease runs out (the holder died; the caller may take over).
   */
  private async waitForHolder(
    context: VendContext,
    since: number,
    untilMs: number,
    seen: string | undefined,
  ): Promise<{ token?: CachedToken; failed?: ErrorCode; version?: string }> {
    const { clock, tier } = this.parts;
    const now = () => clock.now();
    let pause = 25;
    let item: TierItem | undefined;
    while (now() < untilMs) {
      await clock.sleep(Math.min(pause, Math.max(1, untilMs - now())));
      pause = Math.min(pause * 2, 200);
      item = await tier.read(context.key);
      const token = item?.version !== seen ? this.noted(context, item?.token) : undefined;
      if (token && context.freshness.isUsable(token, this.nowSeconds())) return { token };
      if (item && item.leaseUntilMs > now()) continue;
      if (item?.lastError !== undefined && (item.failedAtMs ?? 0) >= since) return { failed: item.lastError };
      break;
    }
    return item?.version === undefined ? {} : { version: item.version };
  }

  private async fetchUnderLease(
    context: VendContext,
    lease: Parameters<UpstreamGrant['fetch']>[1],
    cache: 'miss' | 'refresh',
    cached: Cached,
  ): Promise<VendOutcome> {
    try {
      return await this.parts.grant.fetch(context, lease, cache);
    } catch (error) {
      if (error instanceof VendError && SERVE_WHILE_VALID.has(error.code)) {
        return this.serveWhileValid(context, cached, error);
      }
      throw error;
    }
  }

  /** A failing provider does not fail a caller whose cached token still meets its min_ttl. */
  private serveWhileValid(context: VendContext, cached: Cached, error: VendError): VendOutcome {
    if (!cached.token || !context.freshness.isUsable(cached.token, this.nowSeconds())) throw error;
    this.parts.log.warn('provider failed; serving the cached token while it is valid', {
      event: 'served_while_valid',
      provider: context.provider.id,
      upstream_failure: error.code,
    });
    return { token: cached.token, cache: cached.source, upstreamFailure: error.code };
  }

  private async fromTable(context: VendContext, token: CachedToken): Promise<VendOutcome> {
    await this.remember(context, token);
    return { token, cache: 'table' };
  }

  private async remember(context: VendContext, token: CachedToken): Promise<void> {
    if (context.freshness.isWorthCaching(token, this.nowSeconds())) {
      await this.parts.memory.put(context.key, token, { providerId: context.provider.id });
    }
  }

  /** A token seen is a lifetime learnt; one too short for the caller's min_ttl ends the vend at once. */
  private noted(context: VendContext, token: CachedToken | undefined): CachedToken | undefined {
    if (token) {
      this.parts.lifetimes.record(context, token);
      this.parts.lifetimes.assertCanMeet(context);
    }
    return token;
  }

  /** Long enough for every attempt and backoff of one grant; a holder that dies frees the key after it. */
  private leaseMs(context: VendContext): number {
    const { provider } = context;
    return Math.min(this.parts.waitBudgetMs, provider.timeoutMs * provider.maxAttempts + 2000);
  }

  private nowSeconds(): number {
    return this.parts.clock.now() / 1000;
  }
}

/** Of the tokens at hand, the one that lasts longest. */
function longestLived(...tokens: Array<CachedToken | undefined>): CachedToken | undefined {
  return tokens.reduce<CachedToken | undefined>(
    (best, token) => (token && (!best || token.expiresAt > best.expiresAt) ? token : best),
    undefined,
  );
}
