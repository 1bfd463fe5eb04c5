import type { CachedToken } from '../cache/token-store';
import type { EndpointPolicy } from '../config/load-providers';
import { UpstreamError, type UpstreamExchange, VendError } from '../errors';
import { type Attempt, attemptGrant, type TokenGrantRequest } from './grant-attempt';
import { guardedFetch } from './guarded-fetch';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, type RetryPolicy, sleep } from './retry-policy';
import type { TransportOptions } from './token-transport';

export type { TokenGrantRequest } from './grant-attempt';
export { MAX_RESPONSE_BYTES } from './token-transport';

/** What the provider granted: only these fields leave the token client (Keycloak's refresh_token does not). */
export interface TokenGrantResult {
  readonly token: CachedToken;
  readonly upstream: UpstreamExchange;
}

/** The network seam: runs the client-credentials grant against a provider. */
export interface TokenClient {
  requestToken(request: TokenGrantRequest): Promise<TokenGrantResult>;
}

export interface OAuthTokenClientOptions {
  readonly retry?: Partial<RetryPolicy>;
  /**
   * All attempts and waits of one grant fit in this. With the vendor's wait for another instance's lease
   * (12 s at most) a vend stays inside the function's 28 s timeout and API Gateway's 29 s. @default 10000
   */
  readonly budgetMs?: number;
  /** A transport of the caller's (tests); by default {@link guardedFetch}, which checks every address. */
  readonly fetch?: typeof fetch;
  /** Which addresses token requests may connect to: `local` adds loopback. @default 'public' */
  readonly endpoints?: EndpointPolicy;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** The time one grant may take, all attempts and waits included. */
export const UPSTREAM_BUDGET_MS = 10_000;

const MIN_ATTEMPT_MS = 250;

/**
 * The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) through oauth4webapi, with the dialects providers
 * speak: form or JSON body (Auth0), `audience` or RFC 8707 `resource`, client_secret_basic/post and
 * private_key_jwt. Retries 5xx, 429 and connection failures with jittered backoff inside one time budget;
 * a timeout ends the grant at once, since a caller is already waiting.
 */
export class OAuthTokenClient implements TokenClient {
  private readonly retry: RetryPolicy;
  private readonly budgetMs: number;
  private readonly transport: TransportOptions;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(options: OAuthTokenClientOptions = {}) {
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.budgetMs = options.budgetMs ?? UPSTREAM_BUDGET_MS;
    const endpoints = options.endpoints ?? 'public';
    this.transport = { endpoints, fetch: options.fetch ?? guardedFetch({ endpoints }) };
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  async requestToken(request: TokenGrantRequest): Promise<TokenGrantResult> {
    const { provider } = request;
    const started = this.now();
    const deadline = started + this.budgetMs;
    const maxAttempts = Math.min(provider.maxAttempts, this.retry.maxAttempts);
    const exchange = (attempts: number, status?: number): UpstreamExchange => ({
      attempts,
      latencyMs: this.now() - started,
      ...(status === undefined ? {} : { status }),
    });

    for (let attempt = 1; ; attempt++) {
      const timeoutMs = Math.min(provider.timeoutMs, deadline - this.now());
      let outcome: Attempt;
      try {
        outcome = await attemptGrant(request, timeoutMs, this.transport, this.now);
      } catch (error) {
        // A misconfigured secret or key is not an upstream fault: it goes up as it is.
        if (!(error instanceof VendError)) throw error;
        throw new UpstreamError(error, exchange(attempt, error.details.upstreamStatus));
      }
      if (outcome.kind === 'granted')
        return { token: outcome.token, upstream: exchange(attempt, outcome.status) };

      const remaining = deadline - this.now();
      const wait = outcome.retryAfterMs ?? backoffDelayMs(this.retry, attempt, this.random);
      if (attempt >= maxAttempts || wait + MIN_ATTEMPT_MS > remaining) {
        const retryAfterSeconds =
          outcome.retryAfterMs === undefined ? undefined : Math.ceil(outcome.retryAfterMs / 1000);
        throw new UpstreamError(
          new VendError(
            'upstream_unavailable',
            `Provider "${provider.id}" is unavailable (${outcome.reason}) after ${attempt} attempt(s).`,
            {
              ...(outcome.status === undefined ? {} : { upstreamStatus: outcome.status }),
              ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
            },
          ),
          exchange(attempt, outcome.status),
        );
      }
      await sleep(wait);
    }
  }
}
