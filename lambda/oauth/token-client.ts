import { MAX_RETRY_AFTER_MS } from '../backoff-policy';
import type { CachedToken } from '../cache/token-store';
import type { EndpointPolicy } from '../config/load-providers';
import { type ErrorCode, UpstreamError, type UpstreamExchange, VendError } from '../errors';
import { type Attempt, attemptGrant, type TokenGrantRequest } from './grant-attempt';
import { guardedFetch } from './guarded-fetch';
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  LONGEST_RETRY_AFTER_WAIT_MS,
  type RetryPolicy,
  sleep,
} from './retry-policy';
import type { TransportOptions } from './token-transport';

export type { TokenGrantRequest } from './grant-attempt';
export { MAX_RESPONSE_BYTES } from './token-transport';

/** What the provider granted: only these fields leave the token client (Keycloak's refresh_token does not). */
export interface TokenGrantResult {
  readonly token: CachedToken;
  readonly upstream: UpstreamExchange;
}

/**
 * The provider's shared backoff as one grant sees it between attempts (`lease/provider-backoff.ts`): each
 * attempt's outcome is told, and a retry is asked for, so that a provider failing for many keys and
 * containers at once is asked once per backoff step, not once per key and attempt.
 */
export interface UpstreamAttempts {
  /** An attempt failed (`retryAfterMs`: the provider's Retry-After); answers the epoch ms before which nobody asks (0: none). */
  failed(providerId: string, error: ErrorCode, retryAfterMs?: number): Promise<number>;
  /** Before a retry: 0 when this grant may ask again now, else the epoch ms before which nobody asks. */
  mayRetry(providerId: string): Promise<number>;
  /** The provider answered (a token, or a refusal): whatever backoff there was is over. */
  answered(providerId: string): Promise<void>;
}

/** The network seam: runs the client-credentials grant against a provider. */
export interface TokenClient {
  requestToken(request: TokenGrantRequest, attempts?: UpstreamAttempts): Promise<TokenGrantResult>;
}

/** Nobody keeps a provider's backoff: every attempt is the grant's own business. */
const UNSHARED: UpstreamAttempts = {
  failed: async () => 0,
  mayRetry: async () => 0,
  answered: async () => undefined,
};

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

  async requestToken(
    request: TokenGrantRequest,
    attempts: UpstreamAttempts = UNSHARED,
  ): Promise<TokenGrantResult> {
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
        let retryAtMs = 0;
        if (error.code === 'upstream_timeout' || error.code === 'upstream_unavailable') {
          retryAtMs = await attempts.failed(provider.id, error.code);
        } else {
          await attempts.answered(provider.id);
        }
        throw new UpstreamError(
          this.withRetryAt(error, retryAtMs),
          exchange(attempt, error.details.upstreamStatus),
        );
      }
      if (outcome.kind === 'granted') {
        await attempts.answered(provider.id);
        return { token: outcome.token, upstream: exchange(attempt, outcome.status) };
      }

      // Every instance learns of the failure (and of the provider's Retry-After) before anyone retries.
      let retryAtMs = await attempts.failed(provider.id, 'upstream_unavailable', outcome.retryAfterMs);
      const remaining = deadline - this.now();
      const wait = outcome.retryAfterMs ?? backoffDelayMs(this.retry, attempt, this.random);
      const waitsTooLong = outcome.retryAfterMs !== undefined && wait > LONGEST_RETRY_AFTER_WAIT_MS;
      // A step that outlasts the wait (this failure was the third in a row) ends the grant now, not after it.
      const stepOutlasts = retryAtMs > this.now() + wait;
      if (attempt >= maxAttempts || waitsTooLong || stepOutlasts || wait + MIN_ATTEMPT_MS > remaining) {
        throw this.unavailable(provider.id, outcome, attempt, retryAtMs, exchange(attempt, outcome.status));
      }
      await sleep(wait);
      // Another key's grant, here or elsewhere, may have started a backoff meanwhile: it binds this one too.
      retryAtMs = await attempts.mayRetry(provider.id);
      if (retryAtMs > 0) {
        throw this.unavailable(provider.id, outcome, attempt, retryAtMs, exchange(attempt, outcome.status));
      }
    }
  }

  /** The grant ends unanswered: 503, with the time nobody asks the provider (its own Retry-After, or the backoff). */
  private unavailable(
    providerId: string,
    outcome: Extract<Attempt, { kind: 'retryable' }>,
    attempt: number,
    retryAtMs: number,
    upstream: UpstreamExchange,
  ): UpstreamError {
    const error = new VendError(
      'upstream_unavailable',
      `Provider "${providerId}" is unavailable (${outcome.reason}) after ${attempt} attempt(s).`,
      outcome.status === undefined ? {} : { upstreamStatus: outcome.status },
    );
    const saidAtMs =
      outcome.retryAfterMs === undefined
        ? 0
        : this.now() + Math.min(outcome.retryAfterMs, MAX_RETRY_AFTER_MS);
    return new UpstreamError(this.withRetryAt(error, Math.max(retryAtMs, saidAtMs)), upstream);
  }

  /**
   * The error with the time before which nobody asks, when one is known: kept for the key's record, and
   * sent as `Retry-After` (whole seconds, at least 1) on a 503 (a 504 carries none, as the contract says).
   */
  private withRetryAt(error: VendError, retryAtMs: number): VendError {
    if (retryAtMs <= this.now()) return error;
    const retryAfterSeconds = Math.max(1, Math.ceil((retryAtMs - this.now()) / 1000));
    return new VendError(error.code, error.message, {
      ...error.details,
      ...(error.code === 'upstream_unavailable' ? { retryAfterSeconds } : {}),
      retryAtMs,
    });
  }
}
