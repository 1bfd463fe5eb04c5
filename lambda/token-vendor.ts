import { cacheKey } from './cache/cache-key';
import {
  countsTowardsBackoff,
  type FetchCoordinator,
  InProcessCoordinator,
  type Lease,
  type LeaseOutcome,
  type LeaseResult,
  type LeaseState,
} from './cache/fetch-coordinator';
import type { CachedToken, TokenStore } from './cache/token-store';
import { isCallerAllowed, type ResolvedSelectors, resolveSelectors } from './caller-policy';
import type { ProviderConfig } from './config/provider-schema';
import type { CredentialSource } from './credentials/client-credentials';
import { type ErrorCode, VendError } from './errors';
import { Freshness } from './freshness';
import { describeError, type Log } from './logging';
import { type TokenClient, UPSTREAM_BUDGET_MS, type UpstreamExchange } from './oauth/token-client';
import { SingleFlight } from './single-flight';
import type { VendRequest } from './vend-request';

/**
 * Where the token came from: this container's memory, the shared table, the provider because nothing
 * usable was cached (`miss`), or the provider ahead of expiry while others were still served (`refresh`).
 */
export type CacheOutcome = 'memory' | 'table' | 'miss' | 'refresh';

export interface VendOutcome {
  readonly token: CachedToken;
  readonly cache: CacheOutcome;
  readonly upstream?: UpstreamExchange;
  /** The provider failed, and a cached token that still meets the caller's min_ttl was served instead. */
  readonly upstreamFailure?: ErrorCode;
}

/** What `GET /v1/providers` shows a caller: never a secret id or an endpoint's credentials. */
export interface ProviderSummary {
  readonly id: string;
  readonly description?: string;
  readonly defaultAudience?: string;
  readonly allowedAudiences: readonly string[];
  readonly defaultScopes: readonly string[];
  readonly allowedScopes: readonly string[];
}

export interface TokenVendorOptions {
  readonly providers: readonly ProviderConfig[];
  readonly credentials: CredentialSource;
  readonly tokenClient: TokenClient;
  /** Per container. */
  readonly memory: TokenStore;
  /** Shared by all containers; a failing table is bypassed, never fatal. */
  readonly table?: TokenStore;
  /** Cross-container single flight and backoff; without one, this container decides alone. */
  readonly coordinator?: FetchCoordinator;
  readonly log: Log;
  readonly now?: () => number;
  /**
   * How long a caller may wait for another instance's fetch before giving up; also the longest lease.
   * @default 12000 (one upstream budget and 2 s for the table)
   */
  readonly waitBudgetMs?: number;
}

/** Everything one vend needs to know, worked out once. */
interface VendContext {
  readonly provider: ProviderConfig;
  readonly selectors: ResolvedSelectors;
  readonly key: string;
  readonly freshness: Freshness;
}

const UPSTREAM_ERRORS: ReadonlySet<ErrorCode> = new Set([
  'upstream_rejected',
  'upstream_invalid_response',
  'upstream_unavailable',
  'upstream_timeout',
]);
/** Of the tokens at hand, the one that lasts longest. */
function longestLived(...tokens: Array<CachedToken | undefined>): CachedToken | undefined {
  return tokens.reduce<CachedToken | undefined>(
    (best, token) => (token && (!best || token.expiresAt > best.expiresAt) ? token : best),
    undefined,
  );
}

const isUpstreamError = (error: unknown): error is VendError =>
  error instanceof VendError && UPSTREAM_ERRORS.has(error.code);

/** Cache, single flight and upstream, in that order (DESIGN.md steps 3–5). Knows nothing of HTTP. */
export class TokenVendor {
  private readonly providers: ReadonlyMap<string, ProviderConfig>;
  private readonly flights = new SingleFlight<VendOutcome>();
  private readonly now: () => number;
  private readonly localCoordinator: InProcessCoordinator;
  private readonly waitBudgetMs: number;
  private readonly leaseIssuers = new WeakMap<Lease, FetchCoordinator>();

  constructor(private readonly options: TokenVendorOptions) {
    this.providers = new Map(options.providers.map((provider) => [provider.id, provider]));
    this.now = options.now ?? Date.now;
    this.localCoordinator = new InProcessCoordinator(this.now);
    this.waitBudgetMs = options.waitBudgetMs ?? UPSTREAM_BUDGET_MS + 2000;
  }

  listProviders(principal: string | undefined): ProviderSummary[] {
    return [...this.providers.values()]
      .filter((provider) => isCallerAllowed(provider, principal))
      .map((provider) => ({
        id: provider.id,
        ...(provider.description === undefined ? {} : { description: provider.description }),
        ...(provider.defaultAudience === undefined ? {} : { defaultAudience: provider.defaultAudience }),
        allowedAudiences: provider.allowedAudiences,
        defaultScopes: provider.defaultScopes,
        allowedScopes: provider.allowedScopes,
      }));
  }

  async vend(principal: string | undefined, providerId: string, request: VendRequest): Promise<VendOutcome> {
    const context = await this.contextFor(principal, providerId, request);
    const { freshness, key } = context;
    const remembered = await this.options.memory.get(key);
    if (
      remembered &&
      freshness.isFresh(remembered, this.nowSeconds()) &&
      !freshness.isRefreshDue(remembered, this.nowSeconds())
    ) {
      return { token: remembered, cache: 'memory' };
    }
    // Callers with the same key and the same demand share one table read and one upstream request.
    const outcome = await this.flights.run(`${key}#${request.minTtlSeconds ?? ''}`, (publish) =>
      this.resolve(context, remembered, publish),
    );
    if (!freshness.isUsable(outcome.token, this.nowSeconds())) {
      const lifetime = outcome.token.expiresAt - outcome.token.issuedAt;
      throw new VendError(
        'invalid_request',
        `min_ttl ${request.minTtlSeconds} cannot be met: provider "${providerId}" issues tokens valid for ${lifetime} s.`,
      );
    }
    return outcome;
  }

  async evict(principal: string | undefined, providerId: string, request: VendRequest): Promise<void> {
    const { key } = await this.contextFor(principal, providerId, request);
    await this.options.memory.delete(key);
    try {
      await this.options.table?.delete(key);
    } catch (error) {
      this.tableFailed('delete', error);
    }
  }

  /** The table's token if it is good, else the provider's, else a wait for another instance's fetch. */
  private async resolve(
    context: VendContext,
    remembered: CachedToken | undefined,
    publish: (early: VendOutcome) => void,
  ): Promise<VendOutcome> {
    const { freshness, key, provider } = context;
    const stored = await this.readTable(key);
    const cached = longestLived(remembered, stored);
    const source: CacheOutcome = cached === stored ? 'table' : 'memory';
    const nowSeconds = this.nowSeconds();

    if (cached && freshness.isFresh(cached, nowSeconds)) {
      if (cached === stored) await this.options.memory.put(key, cached, { providerId: provider.id });
      if (!freshness.isRefreshDue(cached, nowSeconds)) return { token: cached, cache: source };
      // Refresh ahead: whoever wins the lease renews; everyone else keeps the still-valid token.
      const result = await this.acquire(key, provider, stored);
      if (
        result.kind === 'superseded' &&
        result.token &&
        freshness.isFresh(result.token, this.nowSeconds())
      ) {
        await this.options.memory.put(key, result.token, { providerId: provider.id });
        return { token: result.token, cache: 'table' };
      }
      if (result.kind !== 'acquired') return { token: cached, cache: source };
      // Callers of this container who joined this renewal take the current token and go.
      publish({ token: cached, cache: source });
      return this.fetchUnderLease(context, result.lease, 'refresh', cached, source);
    }
    return this.fetchOrWait(context, cached, source, stored);
  }

  private async fetchOrWait(
    context: VendContext,
    cached: CachedToken | undefined,
    source: CacheOutcome,
    stored: CachedToken | undefined,
  ): Promise<VendOutcome> {
    const { freshness, key, provider } = context;
    const deadline = this.now() + this.waitBudgetMs;
    // The table's token as this caller last saw it: the lease is taken only if it is still that one.
    let seen = stored;
    for (;;) {
      const askedAt = this.now();
      const result = await this.acquire(key, provider, seen);
      if (result.kind === 'acquired')
        return this.fetchUnderLease(context, result.lease, 'miss', cached, source);
      if (result.kind === 'superseded') {
        // Another instance stored a token (or evicted one) since we read: use it if it is good, else retry.
        if (result.token && freshness.isFresh(result.token, this.nowSeconds())) {
          await this.options.memory.put(key, result.token, { providerId: provider.id });
          return { token: result.token, cache: 'table' };
        }
        seen = result.token;
        continue;
      }
      if (result.kind === 'backoff') {
        const error = new VendError(
          'upstream_unavailable',
          `Provider "${provider.id}" failed repeatedly (${result.lastError}); it is left alone until it recovers.`,
          { retryAfterSeconds: Math.max(1, Math.ceil((result.retryAtMs - this.now()) / 1000)) },
        );
        return this.serveWhileValid(context, cached, source, error);
      }
      const waited = await this.waitForHolder(context, askedAt, Math.min(result.leaseUntilMs, deadline));
      if (waited?.token) {
        await this.options.memory.put(key, waited.token, { providerId: provider.id });
        return { token: waited.token, cache: 'table' };
      }
      if (waited?.failed) {
        const error = new VendError(
          waited.failed,
          `Provider "${provider.id}" failed moments ago for another caller of the same token (${waited.failed}).`,
        );
        return this.serveWhileValid(context, cached, source, error);
      }
      if (this.now() >= deadline) {
        throw new VendError(
          'upstream_timeout',
          `Waited ${this.waitBudgetMs} ms for another instance to fetch the token.`,
        );
      }
      // The holder's lease ran out without a token: it died or failed. Try to take over.
    }
  }

  /** Asks the provider under a lease, stores the token, then gives the lease back (in that order). */
  private async fetchUnderLease(
    context: VendContext,
    lease: Lease,
    cache: 'miss' | 'refresh',
    cached: CachedToken | undefined,
    source: CacheOutcome,
  ): Promise<VendOutcome> {
    const { provider, selectors, key, freshness } = context;
    let result: Awaited<ReturnType<TokenClient['requestToken']>>;
    try {
      const credentials = await this.options.credentials.get(provider.secretId);
      result = await this.options.tokenClient.requestToken({ provider, credentials, ...selectors });
    } catch (error) {
      const code: ErrorCode = error instanceof VendError ? error.code : 'internal_error';
      await this.releaseLease(lease, { kind: 'failed', error: code, counts: countsTowardsBackoff(code) });
      if (error instanceof VendError && error.details.upstreamError === 'invalid_client') {
        // The secret may have rotated since it was cached: read it afresh next time.
        this.options.credentials.invalidate(provider.secretId);
      }
      if (isUpstreamError(error)) return this.serveWhileValid(context, cached, source, error);
      throw error;
    }
    const { token, upstream } = result;
    const worthCaching = freshness.isWorthCaching(token, this.nowSeconds());
    if (worthCaching) await this.options.memory.put(key, token, { providerId: provider.id });
    if (worthCaching && this.leaseIssuers.get(lease) === this.localCoordinator && this.options.table) {
      // The shared lease could not be had (the table failed): store the token the plain way, if it can be.
      try {
        await this.options.table.put(key, token, { providerId: provider.id });
      } catch (error) {
        this.tableFailed('put', error);
      }
    }
    // Where the coordinator is the table, this one write stores the token and gives the lease back.
    await this.releaseLease(lease, {
      kind: 'succeeded',
      ...(worthCaching ? { stored: { token, providerId: provider.id } } : {}),
    });
    return { token, cache, upstream };
  }

  /** A failing provider does not fail a caller whose cached token still meets its min_ttl. */
  private serveWhileValid(
    context: VendContext,
    cached: CachedToken | undefined,
    source: CacheOutcome,
    error: VendError,
  ): VendOutcome {
    if (!cached || !context.freshness.isUsable(cached, this.nowSeconds())) throw error;
    this.options.log.warn('provider failed; serving the cached token while it is valid', {
      event: 'served_while_valid',
      provider: context.provider.id,
      upstream_failure: error.code,
    });
    return { token: cached, cache: source, upstreamFailure: error.code };
  }

  /**
   * Polls until the lease holder's token appears (in memory when the holder is this container, else in the
   * table), the holder gives the lease back after a failure (its answer is then everyone's), or the lease
   * runs out (the holder died; the caller may take over).
   */
  private async waitForHolder(
    context: VendContext,
    since: number,
    untilMs: number,
  ): Promise<{ token?: CachedToken; failed?: ErrorCode } | undefined> {
    let pause = 25;
    while (this.now() < untilMs) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(1, untilMs - this.now()))));
      pause = Math.min(pause * 2, 200);
      // The holder's token shows in this container's memory when it is here, else beside the lease.
      const [remembered, lease] = await Promise.all([
        this.options.memory.get(context.key),
        this.peekLease(context.key),
      ]);
      const token = longestLived(remembered, lease?.token);
      if (token && context.freshness.isFresh(token, this.nowSeconds())) return { token };
      if (lease && lease.leaseUntilMs > this.now()) continue;
      // Given back after a failure while we waited: the holder's answer is ours too.
      if (lease?.lastError !== undefined && (lease.failedAtMs ?? 0) >= since) {
        return { failed: lease.lastError };
      }
      // Gone (the holder stored its token and left) or run out (it died): take the lease, double-check.
      return undefined;
    }
    return undefined;
  }

  /** The lease's state in the shared table, or in this container when there is no table or it fails. */
  private async peekLease(key: string): Promise<LeaseState | undefined> {
    if (!this.options.coordinator) return this.localCoordinator.peek(key);
    try {
      return await this.options.coordinator.peek(key);
    } catch (error) {
      this.tableFailed('lease', error);
      return this.localCoordinator.peek(key);
    }
  }

  /** The lease of the shared table; this container's own when there is no table or it fails. */
  private async acquire(key: string, provider: ProviderConfig, seen?: CachedToken): Promise<LeaseResult> {
    // Long enough for every attempt and backoff of one grant; a holder that dies frees the key after it.
    const leaseMs = Math.min(this.waitBudgetMs, provider.timeoutMs * provider.maxAttempts + 2000);
    let coordinator: FetchCoordinator = this.options.coordinator ?? this.localCoordinator;
    let result: LeaseResult;
    try {
      result = await coordinator.acquire(key, leaseMs, seen);
    } catch (error) {
      this.tableFailed('lease', error);
      coordinator = this.localCoordinator;
      result = await coordinator.acquire(key, leaseMs);
    }
    if (result.kind === 'acquired') this.leaseIssuers.set(result.lease, coordinator);
    return result;
  }

  private async releaseLease(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    try {
      await this.leaseIssuers.get(lease)?.release(lease, outcome);
    } catch (error) {
      this.tableFailed('release', error);
    }
  }

  private async contextFor(
    principal: string | undefined,
    providerId: string,
    request: VendRequest,
  ): Promise<VendContext> {
    const provider = this.providers.get(providerId);
    if (!provider) throw new VendError('unknown_provider', `No provider "${providerId}".`);
    if (!isCallerAllowed(provider, principal)) {
      throw new VendError('access_denied', `This caller may not vend tokens from provider "${providerId}".`);
    }
    const selectors = resolveSelectors(provider, request);
    const credentials = await this.options.credentials.get(provider.secretId);
    const key = cacheKey({
      providerId: provider.id,
      tokenEndpoint: provider.tokenEndpoint,
      clientId: credentials.clientId,
      scopes: selectors.scopes,
      ...(selectors.audience === undefined ? {} : { audience: selectors.audience }),
    });
    return { provider, selectors, key, freshness: new Freshness(provider, key, request.minTtlSeconds) };
  }

  private async readTable(key: string): Promise<CachedToken | undefined> {
    try {
      return await this.options.table?.get(key);
    } catch (error) {
      this.tableFailed('get', error);
      return undefined;
    }
  }

  private tableFailed(operation: string, error: unknown): void {
    this.options.log.warn(`cache table ${operation} failed`, {
      event: 'cache_table_error',
      operation,
      ...describeError(error),
    });
  }

  private nowSeconds(): number {
    return this.now() / 1000;
  }
}
