import { cacheKey } from './cache/cache-key';
import type { CachedToken, TokenStore } from './cache/token-store';
import { isCallerAllowed, type ResolvedSelectors, resolveSelectors } from './caller-policy';
import type { ProviderConfig } from './config/provider-schema';
import type { CredentialSource } from './credentials/client-credentials';
import { VendError } from './errors';
import { describeError, type Log } from './logging';
import type { TokenClient, UpstreamExchange } from './oauth/token-client';
import { UpstreamError } from './oauth/token-client';
import { SingleFlight } from './single-flight';
import type { VendRequest } from './vend-request';

export type CacheOutcome = 'memory' | 'table' | 'miss';

export interface VendOutcome {
  readonly token: CachedToken;
  readonly cache: CacheOutcome;
  readonly upstream?: UpstreamExchange;
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
  readonly log: Log;
  readonly now?: () => number;
}

/**
 * The refresh margin for one token: the provider's margin, but never more than half the token's lifetime,
 * so a 300-second Keycloak token is not refreshed on every call by a margin meant for 24-hour tokens.
 */
export function effectiveMarginSeconds(provider: ProviderConfig, token: CachedToken): number {
  const lifetime = token.expiresAt - token.issuedAt;
  return Math.min(provider.refreshMarginSeconds, Math.floor(lifetime / 2));
}

/** Cache, single flight and upstream, in that order (DESIGN.md steps 3–5). Knows nothing of HTTP. */
export class TokenVendor {
  private readonly providers: ReadonlyMap<string, ProviderConfig>;
  private readonly flights = new SingleFlight<VendOutcome>();
  private readonly now: () => number;

  constructor(private readonly options: TokenVendorOptions) {
    this.providers = new Map(options.providers.map((provider) => [provider.id, provider]));
    this.now = options.now ?? Date.now;
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
    const { provider, selectors } = this.authorize(principal, providerId, request);
    const key = await this.keyFor(provider, selectors);
    const minTtl = request.minTtlSeconds ?? 0;
    const isFresh = (token: CachedToken) =>
      this.secondsLeft(token) > Math.max(effectiveMarginSeconds(provider, token), minTtl);

    const remembered = await this.options.memory.get(key);
    if (remembered && isFresh(remembered)) return { token: remembered, cache: 'memory' };

    // Callers with the same key and the same demand share one table read and one upstream request.
    const outcome = await this.flights.run(`${key}#${minTtl}`, async () => {
      const stored = await this.readTable(key);
      if (stored && isFresh(stored)) {
        await this.options.memory.put(key, stored, { providerId });
        return { token: stored, cache: 'table' as const };
      }
      return this.fetchAndStore(provider, selectors, key);
    });
    if (!isFresh(outcome.token)) {
      const lifetime = outcome.token.expiresAt - outcome.token.issuedAt;
      throw new VendError(
        'invalid_request',
        `min_ttl ${minTtl} cannot be met: provider "${provider.id}" issues tokens valid for ${lifetime} s.`,
      );
    }
    return outcome;
  }

  async evict(principal: string | undefined, providerId: string, request: VendRequest): Promise<void> {
    const { provider, selectors } = this.authorize(principal, providerId, request);
    const key = await this.keyFor(provider, selectors);
    await this.options.memory.delete(key);
    try {
      await this.options.table?.delete(key);
    } catch (error) {
      this.options.log.warn('cache table delete failed', {
        event: 'cache_table_error',
        operation: 'delete',
        ...describeError(error),
      });
    }
  }

  private authorize(
    principal: string | undefined,
    providerId: string,
    request: VendRequest,
  ): { provider: ProviderConfig; selectors: ResolvedSelectors } {
    const provider = this.providers.get(providerId);
    if (!provider) throw new VendError('unknown_provider', `No provider "${providerId}".`);
    if (!isCallerAllowed(provider, principal)) {
      throw new VendError('access_denied', `This caller may not vend tokens from provider "${providerId}".`);
    }
    return { provider, selectors: resolveSelectors(provider, request) };
  }

  private async keyFor(provider: ProviderConfig, selectors: ResolvedSelectors): Promise<string> {
    const credentials = await this.options.credentials.get(provider.secretId);
    return cacheKey({
      providerId: provider.id,
      tokenEndpoint: provider.tokenEndpoint,
      clientId: credentials.clientId,
      scopes: selectors.scopes,
      ...(selectors.audience === undefined ? {} : { audience: selectors.audience }),
    });
  }

  private async fetchAndStore(
    provider: ProviderConfig,
    selectors: ResolvedSelectors,
    key: string,
  ): Promise<VendOutcome> {
    const credentials = await this.options.credentials.get(provider.secretId);
    let result: Awaited<ReturnType<TokenClient['requestToken']>>;
    try {
      result = await this.options.tokenClient.requestToken({ provider, credentials, ...selectors });
    } catch (error) {
      if (error instanceof UpstreamError && error.details.upstreamError === 'invalid_client') {
        // The secret may have rotated since it was cached: read it afresh next time.
        this.options.credentials.invalidate(provider.secretId);
      }
      throw error;
    }
    const { token, upstream } = result;
    // A token that is stale by the provider's own margin would be useless to the next caller: not cached.
    if (this.secondsLeft(token) > effectiveMarginSeconds(provider, token)) {
      await this.options.memory.put(key, token, { providerId: provider.id });
      try {
        await this.options.table?.put(key, token, { providerId: provider.id });
      } catch (error) {
        this.options.log.warn('cache table write failed', {
          event: 'cache_table_error',
          operation: 'put',
          ...describeError(error),
        });
      }
    }
    return { token, cache: 'miss', upstream };
  }

  private async readTable(key: string): Promise<CachedToken | undefined> {
    try {
      return await this.options.table?.get(key);
    } catch (error) {
      this.options.log.warn('cache table read failed', {
        event: 'cache_table_error',
        operation: 'get',
        ...describeError(error),
      });
      return undefined;
    }
  }

  private secondsLeft(token: CachedToken): number {
    return token.expiresAt - this.now() / 1000;
  }
}
