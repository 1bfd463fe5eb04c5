import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { backoffDelayMs } from './backoff';
import { TvmError, type TvmErrorCode } from './errors';
import { signRequest } from './sigv4-signer';
import {
  EVICT_OUTCOME_HEADER,
  EVICT_OUTCOMES,
  type EvictOutcome,
  normalizeScopes,
  type ProviderSummary,
  type TokenResponse,
  tokenFingerprint,
} from './wire-contract';

export interface TokenSelectors {
  /** Space-separated string or an array; order and duplicates do not matter. */
  readonly scope?: string | readonly string[];
  readonly audience?: string;
  /** Seconds the token must stay valid at least. */
  readonly minTtl?: number;
}

export interface VendedToken {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  readonly expiresAt: Date;
  /** Seconds left when it was vended. */
  readonly expiresIn: number;
  readonly scope?: string;
}

/** The service's 200 body, as the CLI prints it. */
export type { EvictOutcome, TokenResponse } from './wire-contract';
/** What `GET /v1/providers` lists. */
export type ProviderInfo = ProviderSummary;

export interface TvmClientOptions {
  /** The API's base URL, stage included: `https://abc123.execute-api.eu-north-1.amazonaws.com/live`. */
  readonly endpoint: string;
  /** @default AWS_REGION, else the region in an execute-api host name, else us-east-1 */
  readonly region?: string;
  /** @default the AWS SDK's default chain: environment, profile, container or instance role */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /**
   * A cached token is used while it has more than this (or the call's minTtl) left.
   * @default 60
   */
  readonly refreshSkewSeconds?: number;
  /** Attempts for a call answered 429, 503 or 504. @default 3 */
  readonly maxAttempts?: number;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
}

const EXECUTE_API_HOST = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/;
/** Answers worth another try: throttled (429), a dependency unavailable (503), a provider timing out (504). */
const RETRIED_STATUSES = new Set([429, 503, 504]);

/** Between retries of a 429/503/504 without `Retry-After`: 0–400 ms, then 0–800 ms, … never more than 5 s. */
const RETRY_BACKOFF = { baseMs: 400, maxMs: 5000, jitter: 'full' } as const;
const MAX_RETRY_WAIT_MS = RETRY_BACKOFF.maxMs;

const normalizeScope = (scope: TokenSelectors['scope']): string[] | undefined =>
  scope === undefined ? undefined : normalizeScopes(scope);

function requestFields(selectors: TokenSelectors): Record<string, unknown> {
  const scope = normalizeScope(selectors.scope);
  return {
    ...(scope === undefined ? {} : { scope }),
    ...(selectors.audience === undefined ? {} : { audience: selectors.audience }),
    ...(selectors.minTtl === undefined ? {} : { min_ttl: selectors.minTtl }),
  };
}

function requestBody(selectors: TokenSelectors): string | undefined {
  const body = requestFields(selectors);
  return Object.keys(body).length > 0 ? JSON.stringify(body) : undefined;
}

const cacheKeyOf = (provider: string, selectors: TokenSelectors) =>
  JSON.stringify([provider, normalizeScope(selectors.scope) ?? null, selectors.audience ?? null]);

/**
 * A caller of the token vending service: signs with the caller's AWS credentials, keeps tokens in process
 * until they near expiry, makes one call for concurrent requests of the same token, and retries 429/503/504.
 */
export class TvmClient {
  private readonly endpoint: string;
  private readonly region: string;
  private readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  private readonly refreshSkewSeconds: number;
  private readonly maxAttempts: number;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly tokens = new Map<string, VendedToken>();
  private readonly inFlight = new Map<
    string,
    { readonly call: Promise<VendedToken>; readonly minTtl: number }
  >();

  constructor(options: TvmClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    const host = new URL(this.endpoint).hostname;
    this.region = options.region ?? process.env.AWS_REGION ?? EXECUTE_API_HOST.exec(host)?.[1] ?? 'us-east-1';
    this.credentials = options.credentials ?? defaultProvider();
    this.refreshSkewSeconds = options.refreshSkewSeconds ?? 60;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.fetchImpl = options.fetch ?? fetch;
    this.now = options.now ?? Date.now;
  }

  /** A token for `provider`, from this process's cache while it has enough life left. */
  async getToken(provider: string, selectors: TokenSelectors = {}): Promise<VendedToken> {
    const key = cacheKeyOf(provider, selectors);
    const minTtl = Math.max(this.refreshSkewSeconds, selectors.minTtl ?? 0);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt.getTime() - this.now() > minTtl * 1000) return cached;
    // Concurrent callers of the same token share one call, if it asks for at least as long as they need.
    const pending = this.inFlight.get(key);
    if (pending && pending.minTtl >= minTtl) return pending.call;
    const call = this.vend(provider, { ...selectors, minTtl })
      .then(({ token }) => {
        this.tokens.set(key, token);
        return token;
      })
      .finally(() => {
        if (this.inFlight.get(key)?.call === call) this.inFlight.delete(key);
      });
    this.inFlight.set(key, { call, minTtl });
    return call;
  }

  /** One vend call, uncached: the service's answer as it came. */
  async vend(
    provider: string,
    selectors: TokenSelectors = {},
  ): Promise<{ token: VendedToken; response: TokenResponse }> {
    const response = (await this.call(
      'POST',
      `/v1/tokens/${encodeURIComponent(provider)}`,
      requestBody(selectors),
    )) as TokenResponse;
    if (typeof response.access_token !== 'string' || typeof response.expires_at !== 'string') {
      throw new TvmError('invalid_response', 'The service answered 200 without a token.');
    }
    return {
      response,
      token: {
        accessToken: response.access_token,
        tokenType: 'Bearer',
        expiresAt: new Date(response.expires_at),
        expiresIn: response.expires_in,
        ...(response.scope === undefined ? {} : { scope: response.scope }),
      },
    };
  }

  /**
   * Drops a token here and in the service after the third-party API rejected it. The service evicts only
   * the token named, only if it is still the cached one, so that many callers who saw one token rejected
   * cause one renewal; the eviction counts against this caller's budgets. Without `rejected`, the token
   * named is the one this client holds; holding none, there is nothing to name and the service is not asked
   * (`not_asked`). Otherwise the service's answer: `evicted`, `absent`, `not_current` (it caches another
   * token) or `too_young` (issued under 15 s ago, kept); `unknown` from a service that does not say.
   */
  async evict(
    provider: string,
    selectors: TokenSelectors = {},
    rejected?: string,
  ): Promise<EvictOutcome | 'not_asked' | 'unknown'> {
    const key = cacheKeyOf(provider, selectors);
    const named = rejected ?? this.tokens.get(key)?.accessToken;
    if (named === undefined) return 'not_asked';
    if (this.tokens.get(key)?.accessToken === named) this.tokens.delete(key);
    const body = {
      ...requestFields({ ...selectors, minTtl: undefined }),
      token_fingerprint: tokenFingerprint(named),
    };
    const answer = await this.call(
      'DELETE',
      `/v1/tokens/${encodeURIComponent(provider)}`,
      JSON.stringify(body),
    );
    const outcome = (answer as { evictOutcome?: string } | undefined)?.evictOutcome;
    return EVICT_OUTCOMES.find((known) => known === outcome) ?? 'unknown';
  }

  async listProviders(): Promise<ProviderInfo[]> {
    const body = (await this.call('GET', '/v1/providers')) as { providers?: ProviderInfo[] };
    return body.providers ?? [];
  }

  /**
   * A `fetch` for the third-party API that adds `Authorization: Bearer …` — only for URLs on `origins`, so
   * the token never goes anywhere else. On a 401 it evicts the rejected token (here and in the service) and
   * retries once, if the service then gives another token; the same token again means the API refuses this
   * token for a reason a new one would not fix, and the 401 is returned. The request body must be
   * replayable (a string, bytes or URLSearchParams, not a stream).
   */
  authorizedFetch(
    provider: string,
    selectors: TokenSelectors = {},
    options: { readonly origins: readonly string[] },
  ): typeof fetch {
    const origins = new Set(options.origins.map((origin) => new URL(origin).origin));
    const send = async (url: URL, init: RequestInit | undefined, token: VendedToken) => {
      const headers = new Headers(init?.headers);
      headers.set('authorization', `Bearer ${token.accessToken}`);
      return this.fetchImpl(url, { ...init, headers });
    };
    return async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (!origins.has(url.origin)) {
        throw new TvmError('origin_not_allowed', `Not sending a token for "${provider}" to ${url.origin}.`);
      }
      const token = await this.getToken(provider, selectors);
      const first = await send(url, init, token);
      if (first.status !== 401) return first;
      await this.evict(provider, selectors, token.accessToken);
      const renewed = await this.getToken(provider, selectors);
      if (renewed.accessToken === token.accessToken) return first;
      await first.body?.cancel().catch(() => undefined);
      return send(url, init, renewed);
    };
  }

  private async call(method: string, path: string, body?: string): Promise<unknown> {
    const url = new URL(`${this.endpoint}${path}`);
    for (let attempt = 1; ; attempt++) {
      let headers: Record<string, string>;
      try {
        headers = await signRequest(
          {
            method,
            url,
            headers: body === undefined ? {} : { 'content-type': 'application/json' },
            ...(body === undefined ? {} : { body }),
          },
          { credentials: this.credentials, region: this.region },
        );
      } catch (error) {
        if ((error as { name?: unknown }).name === 'CredentialsProviderError') {
          throw new TvmError(
            'no_credentials',
            `No AWS credentials to sign with: ${(error as Error).message}`,
            {},
            { cause: error },
          );
        }
        throw error;
      }
      let response: Response;
      try {
        response = await this.fetchImpl(url, { method, headers, ...(body === undefined ? {} : { body }) });
      } catch (error) {
        // fetch says only "fetch failed"; the reason (refused, unresolvable, TLS) is in its cause.
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        const reason = cause?.code ?? cause?.message ?? (error as Error).message;
        throw new TvmError('network_error', `Cannot reach ${url.origin}: ${reason}`, {}, { cause: error });
      }
      if (RETRIED_STATUSES.has(response.status) && attempt < this.maxAttempts) {
        await response.body?.cancel().catch(() => undefined);
        const retryAfter = Number(response.headers.get('retry-after'));
        const backoff = backoffDelayMs(RETRY_BACKOFF, attempt);
        await new Promise((resolve) =>
          setTimeout(
            resolve,
            Math.min(
              MAX_RETRY_WAIT_MS,
              Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : backoff,
            ),
          ),
        );
        continue;
      }
      if (response.status === 204) return { evictOutcome: response.headers.get(EVICT_OUTCOME_HEADER) };
      const text = await response.text();
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new TvmError('invalid_response', `The service answered HTTP ${response.status} with no JSON.`, {
          status: response.status,
        });
      }
      if (response.ok) return json;
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new TvmError(
        (typeof json.error === 'string' ? json.error : 'invalid_response') as TvmErrorCode,
        typeof json.message === 'string' ? json.message : `HTTP ${response.status}`,
        {
          status: response.status,
          ...(typeof json.request_id === 'string' ? { requestId: json.request_id } : {}),
          ...(typeof json.upstream_error === 'string' ? { upstreamError: json.upstream_error } : {}),
          ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterSeconds: retryAfter } : {}),
        },
      );
    }
  }
}
