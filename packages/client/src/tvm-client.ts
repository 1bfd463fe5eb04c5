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

/** One regional API, with the region its requests are signed for when its host name does not say. */
export interface TvmEndpoint {
  readonly url: string;
  readonly region?: string;
  /**
   * For one name in front of several regions (a custom domain with latency or failover routing): the
   * regions that name may reach. Requests are signed for the first (then for the one that last answered);
   * API Gateway refuses a request signed for another region than its own with a 403 ("Credential should be
   * scoped to a valid region"), and on exactly that answer the request is signed for the next region and
   * sent once more. Instead of `region`.
   */
  readonly regions?: readonly string[];
}

interface EndpointChoice {
  /**
   * The API's base URL, stage included: `https://abc123.execute-api.eu-north-1.amazonaws.com/live`.
   * Exactly one of `endpoint` and `endpoints`.
   */
  readonly endpoint?: string;
  /**
   * The regional APIs, the primary first: a call goes to the first one not remembered as failed, and on a
   * network error, a timeout, or a 5xx of the service's own (`internal_error`, `service_unavailable`, a
   * gateway 5xx without the service's error body) to the next. Each is signed for its own region: the one
   * given, else the one in its execute-api host name, else `region`, AWS_REGION, us-east-1.
   */
  readonly endpoints?: readonly (string | TvmEndpoint)[];
}

export type TvmClientOptions = EndpointChoice & {
  /**
   * The signing region. With `endpoint`: this, else AWS_REGION, else the region in an execute-api host name,
   * else us-east-1. With `endpoints`: only for those whose region neither is given nor in the host name.
   */
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
  /**
   * Milliseconds one request to one endpoint may take, connecting included, before the next endpoint is
   * tried. Above the service's own grant deadline (10 s, 12 s at most), so that a slow provider is answered
   * `upstream_timeout` rather than asked again from another region. @default 15000
   */
  readonly timeoutMs?: number;
  /** How long an endpoint that failed is passed over for the others. @default 30000 */
  readonly failedEndpointMemoryMs?: number;
  readonly fetch?: typeof fetch;
  /** The clock for token lifetimes and for the failed-endpoint memory. @default Date.now */
  readonly now?: () => number;
};

interface RegionalEndpoint {
  readonly baseUrl: string;
  /** What requests are signed for: the one that last answered, of `regions`. */
  region: string;
  /** The regions the endpoint's name may reach; one for a regional URL. */
  readonly regions: readonly string[];
  /** Until when (by `now`) it is passed over after a failure. */
  failedUntil: number;
}

/** One request's answer, read whole within the timeout. */
interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_FAILED_ENDPOINT_MEMORY_MS = 30_000;
/** The service's own failures, which another region may not share; `upstream_*` are the provider's. */
const FAILOVER_ERRORS = new Set(['internal_error', 'service_unavailable']);

const EXECUTE_API_HOST = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/;
/** Answers worth another try: throttled (429), a dependency unavailable (503), a provider timing out (504). */
const RETRIED_STATUSES = new Set([429, 503, 504]);

/** Between retries of a 429/503/504 without `Retry-After`: 0–400 ms, then 0–800 ms, … never more than 5 s. */
const RETRY_BACKOFF = { baseMs: 400, maxMs: 5000, jitter: 'full' } as const;
const MAX_RETRY_WAIT_MS = RETRY_BACKOFF.maxMs;

/** API Gateway's answer to a signature scoped to another region than the API's (before checking anything else). */
const WRONG_REGION = /Credential should be scoped to a valid region/;

const regionOfHost = (url: string) => EXECUTE_API_HOST.exec(new URL(url).hostname)?.[1];
const trimmed = (url: string) => url.replace(/\/+$/, '');

function regionalEndpoints(options: TvmClientOptions): RegionalEndpoint[] {
  if ((options.endpoint === undefined) === (options.endpoints === undefined)) {
    throw new TypeError('TvmClient takes exactly one of `endpoint` and `endpoints`.');
  }
  if (options.endpoint !== undefined) {
    const region = options.region ?? process.env.AWS_REGION ?? regionOfHost(options.endpoint) ?? 'us-east-1';
    return [{ baseUrl: trimmed(options.endpoint), region, regions: [region], failedUntil: 0 }];
  }
  const list = options.endpoints ?? [];
  if (list.length === 0) throw new TypeError('TvmClient `endpoints` is empty.');
  // Each region's API must be signed for its own region: AWS_REGION names only the caller's.
  return list.map((entry) => {
    const { url, region, regions } =
      typeof entry === 'string' ? { url: entry, region: undefined, regions: undefined } : entry;
    if (regions !== undefined && (regions.length === 0 || region !== undefined)) {
      throw new TypeError(
        `TvmClient endpoint ${url}: give \`regions\` (at least one) or \`region\`, not both.`,
      );
    }
    const first =
      regions?.[0] ?? region ?? regionOfHost(url) ?? options.region ?? process.env.AWS_REGION ?? 'us-east-1';
    return { baseUrl: trimmed(url), region: first, regions: regions ?? [first], failedUntil: 0 };
  });
}

/** Whether another region may answer better: no answer at all, or a 5xx that is not the provider's. */
function worthFailover(answer: Answer): boolean {
  if (answer.status < 500) return false;
  try {
    const error = (JSON.parse(answer.text) as { error?: unknown } | null)?.error;
    return typeof error !== 'string' || FAILOVER_ERRORS.has(error);
  } catch {
    return true;
  }
}

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
 * until they near expiry, makes one call for concurrent requests of the same token, retries 429/503/504,
 * and fails over between regional endpoints.
 */
export class TvmClient {
  private readonly endpoints: RegionalEndpoint[];
  private readonly timeoutMs: number;
  private readonly failedEndpointMemoryMs: number;
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
    this.endpoints = regionalEndpoints(options);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.failedEndpointMemoryMs = options.failedEndpointMemoryMs ?? DEFAULT_FAILED_ENDPOINT_MEMORY_MS;
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

  /**
   * One call, retried after a 429/503/504 with backoff; each attempt goes to the endpoints in turn until
   * one answers without a failure worth another region.
   */
  private async call(method: string, path: string, body?: string): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      const response = await this.sendToFirstAnswering(method, path, body);
      if (RETRIED_STATUSES.has(response.status) && attempt < this.maxAttempts) {
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
      return this.parse(response);
    }
  }

  /**
   * The endpoints not remembered as failed first, in their order (the primary first), then the others as a
   * last resort: a client whose every endpoint failed lately still tries them rather than give up.
   */
  private async sendToFirstAnswering(method: string, path: string, body?: string): Promise<Answer> {
    const now = this.now();
    const order = [
      ...this.endpoints.filter((endpoint) => endpoint.failedUntil <= now),
      ...this.endpoints.filter((endpoint) => endpoint.failedUntil > now),
    ];
    let lastFailure: unknown;
    for (const [index, endpoint] of order.entries()) {
      const isLast = index === order.length - 1;
      try {
        const answer = await this.sendSignedForItsRegion(endpoint, method, path, body);
        const failed = worthFailover(answer);
        endpoint.failedUntil = failed ? this.now() + this.failedEndpointMemoryMs : 0;
        if (!failed || isLast) return answer;
        continue;
      } catch (error) {
        if (!(error instanceof TvmError) || (error.code !== 'network_error' && error.code !== 'timeout')) {
          throw error;
        }
        lastFailure = error;
      }
      endpoint.failedUntil = this.now() + this.failedEndpointMemoryMs;
    }
    throw lastFailure;
  }

  /**
   * One request to one endpoint; for a name in front of several regions, signed again for each of its other
   * regions while API Gateway answers that the signature is scoped to the wrong one. The region that answers
   * is kept for the next calls. A 403 of another kind (a caller not allowed) is the answer.
   */
  private async sendSignedForItsRegion(
    endpoint: RegionalEndpoint,
    method: string,
    path: string,
    body?: string,
  ): Promise<Answer> {
    const tried = new Set<string>();
    for (;;) {
      tried.add(endpoint.region);
      const answer = await this.send(endpoint, method, path, body);
      const next = endpoint.regions.find((region) => !tried.has(region));
      if (answer.status !== 403 || next === undefined || !WRONG_REGION.test(answer.text)) return answer;
      endpoint.region = next;
    }
  }

  /** One request to one endpoint, its answer read whole within the timeout. */
  private async send(
    endpoint: RegionalEndpoint,
    method: string,
    path: string,
    body?: string,
  ): Promise<Answer> {
    const url = new URL(`${endpoint.baseUrl}${path}`);
    let headers: Record<string, string>;
    try {
      headers = await signRequest(
        {
          method,
          url,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body }),
        },
        { credentials: this.credentials, region: endpoint.region },
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
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const response = await this.fetchImpl(url, {
        method,
        headers,
        signal,
        ...(body === undefined ? {} : { body }),
      });
      return { status: response.status, headers: response.headers, text: await response.text() };
    } catch (error) {
      if (signal.aborted) {
        throw new TvmError(
          'timeout',
          `No answer from ${url.origin} within ${this.timeoutMs} ms`,
          {},
          { cause: error },
        );
      }
      // fetch says only "fetch failed"; the reason (refused, unresolvable, TLS) is in its cause.
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new TvmError('network_error', `Cannot reach ${url.origin}: ${reason}`, {}, { cause: error });
    }
  }

  private parse(response: Answer): unknown {
    if (response.status === 204) return { evictOutcome: response.headers.get(EVICT_OUTCOME_HEADER) };
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(response.text) as Record<string, unknown>;
    } catch {
      throw new TvmError('invalid_response', `The service answered HTTP ${response.status} with no JSON.`, {
        status: response.status,
      });
    }
    if (response.status >= 200 && response.status < 300) return json;
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
