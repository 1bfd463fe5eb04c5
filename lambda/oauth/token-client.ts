import * as oauth from 'oauth4webapi';
import type { CachedToken } from '../cache/token-store';
import type { EndpointPolicy } from '../config/load-providers';
import type { ProviderConfig } from '../config/provider-schema';
import { isLoopbackHost } from '../config/provider-schema';
import type { ClientCredentials } from '../credentials/client-credentials';
import { UpstreamError, type UpstreamExchange, VendError } from '../errors';
import { clientAuthenticationFor } from './client-authentication';
import { grantFor } from './grant';
import { guardedFetch } from './guarded-fetch';
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  type RetryPolicy,
  sleep,
} from './retry-policy';
import { MIN_LIFETIME_SECONDS, MIN_SECONDS_LEFT_ON_ARRIVAL, tokenExpiry } from './token-lifetime';

export interface TokenGrantRequest {
  readonly provider: ProviderConfig;
  readonly credentials: ClientCredentials;
  readonly scopes: readonly string[];
  readonly audience?: string;
}

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
/** A token response is a few KiB; a body past this is refused unread, never buffered whole. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Statuses whose Response may not carry a body. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** A provider's body past {@link MAX_RESPONSE_BYTES}, by its content-length or by counting. */
class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';

  constructor(readonly status: number) {
    super(`response larger than ${MAX_RESPONSE_BYTES} bytes`);
  }
}

/**
 * Reads a body up to `limit` bytes, counting as it goes. A body that trickles in is cut off by the request's
 * signal (its timeout), which the stream honours, so it ends as a timeout rather than a malformed answer.
 */
async function readBounded(response: Response, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw new ResponseTooLargeError(response.status);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new ResponseTooLargeError(response.status);
    }
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** A provider-supplied error code, reduced to what is safe to pass on. */
/**
 * The OAuth error codes a token endpoint may answer with (RFC 6749 §5.2, RFC 8707 §2, RFC 7523 §3.1, RFC 8705):
 * the only values a provider's `error` is passed on as. Anything else a provider says becomes `other`, so a
 * hostile or broken provider cannot put text of its choosing in callers' answers and in the logs.
 */
const OAUTH_ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'access_denied',
  'server_error',
  'temporarily_unavailable',
]);

function sanitizeUpstreamCode(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return typeof value === 'string' && OAUTH_ERROR_CODES.has(value) ? value : 'other';
}

/** An error's name, read without `instanceof`: fetch's errors may come from another realm than this code. */
const nameOf = (error: unknown): unknown =>
  typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;

const isTimeout = (error: unknown): boolean =>
  nameOf(error) === 'TimeoutError' || nameOf(error) === 'AbortError';

type Attempt =
  | { readonly kind: 'granted'; readonly token: CachedToken; readonly status: number }
  | {
      readonly kind: 'retryable';
      readonly reason: string;
      readonly status?: number;
      readonly retryAfterMs?: number;
    };

/**
 * The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) through oauth4webapi, with the dialects providers
 * speak: form or JSON body (Auth0), `audience` or RFC 8707 `resource`, client_secret_basic/post and
 * private_key_jwt. Retries 5xx, 429 and connection failures with jittered backoff inside one time budget;
 * a timeout ends the grant at once, since a caller is already waiting.
 */
export class OAuthTokenClient implements TokenClient {
  private readonly retry: RetryPolicy;
  private readonly budgetMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly endpoints: EndpointPolicy;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(options: OAuthTokenClientOptions = {}) {
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.budgetMs = options.budgetMs ?? UPSTREAM_BUDGET_MS;
    this.endpoints = options.endpoints ?? 'public';
    this.fetchImpl = options.fetch ?? guardedFetch({ endpoints: this.endpoints });
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
        outcome = await this.attempt(request, timeoutMs);
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

  private async attempt(request: TokenGrantRequest, timeoutMs: number): Promise<Attempt> {
    const { provider, credentials } = request;
    const endpoint = new URL(provider.tokenEndpoint);
    const authorizationServer: oauth.AuthorizationServer = {
      issuer: endpoint.origin,
      token_endpoint: provider.tokenEndpoint,
    };
    const client: oauth.Client = { client_id: credentials.clientId };
    const clientAuth = await clientAuthenticationFor(provider, credentials);
    const requestedAtSeconds = Math.floor(this.now() / 1000);
    const grant = await grantFor(provider, credentials, request.scopes, request.audience, requestedAtSeconds);
    const options: oauth.TokenEndpointRequestOptions = {
      signal: AbortSignal.timeout(Math.max(1, timeoutMs)),
      [oauth.customFetch]: this.boundedFetch(provider.bodyEncoding, this.transportFor(provider, credentials)),
      [oauth.allowInsecureRequests]: isLoopbackHost(endpoint.hostname),
    };

    let response: Response;
    try {
      response = grant.grantType
        ? await oauth.genericTokenEndpointRequest(
            authorizationServer,
            client,
            clientAuth,
            grant.grantType,
            grant.parameters,
            options,
          )
        : await oauth.clientCredentialsGrantRequest(
            authorizationServer,
            client,
            clientAuth,
            grant.parameters,
            options,
          );
    } catch (error) {
      if (isTimeout(error)) throw this.timeout(provider, timeoutMs);
      if (error instanceof ResponseTooLargeError) {
        throw this.invalid(provider, error.status, `a response larger than ${MAX_RESPONSE_BYTES} bytes`);
      }
      const cause = (error as { cause?: unknown }).cause;
      // Not retried: the same name resolves to the same place, and asking again only knocks on it again.
      if (nameOf(cause) === 'ForbiddenAddressError') {
        throw new VendError(
          'upstream_unavailable',
          `Provider "${provider.id}" cannot be reached: its token endpoint ${(cause as Error).message.replace(/^\S+ /, '')}, where the service does not connect.`,
        );
      }
      // fetch rejects with a TypeError for refused, reset and unresolvable connections.
      if (nameOf(error) === 'TypeError') return { kind: 'retryable', reason: 'connection failed' };
      throw error;
    }

    if (response.status >= 500 || response.status === 429) {
      await response.body?.cancel().catch(() => undefined);
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.now());
      return {
        kind: 'retryable',
        reason: `HTTP ${response.status}`,
        status: response.status,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      };
    }

    try {
      const body = grant.grantType
        ? await oauth.processGenericTokenEndpointResponse(authorizationServer, client, response)
        : await oauth.processClientCredentialsResponse(authorizationServer, client, response);
      if (body.token_type !== 'bearer') {
        throw this.invalid(provider, response.status, 'token_type is not Bearer');
      }
      const expiresAt = tokenExpiry(
        body.access_token,
        body.expires_in,
        requestedAtSeconds,
        provider.maxTokenLifetimeSeconds,
      );
      if (expiresAt === undefined) {
        throw this.invalid(provider, response.status, 'no usable expires_in or JWT exp');
      }
      const lifetime = expiresAt - requestedAtSeconds;
      const left = Math.floor(expiresAt - this.now() / 1000);
      if (lifetime < MIN_LIFETIME_SECONDS || left < MIN_SECONDS_LEFT_ON_ARRIVAL) {
        throw this.invalid(
          provider,
          response.status,
          `a token valid for ${lifetime} s (${Math.max(0, left)} s left on arrival); at least ${MIN_LIFETIME_SECONDS} s are needed`,
        );
      }
      const token: CachedToken = {
        accessToken: body.access_token,
        issuedAt: requestedAtSeconds,
        expiresAt,
        ...(typeof body.scope === 'string' ? { scope: body.scope } : {}),
      };
      return { kind: 'granted', token, status: response.status };
    } catch (error) {
      throw this.mapResponseError(provider, response.status, error);
    }
  }

  /**
   * The fetch every token request goes through: Auth0's documented JSON variant of the body where the entry
   * asks for it, and the answer read in full, within the request's time and {@link MAX_RESPONSE_BYTES}, before
   * oauth4webapi parses it.
   */
  /** The connection: presenting the client certificate for `tls_client_auth`, plain `fetch` otherwise. */
  private transportFor(
    provider: ProviderConfig,
    credentials: TokenGrantRequest['credentials'],
  ): typeof fetch {
    if (provider.clientAuth !== 'tls_client_auth' || !('clientCertificate' in credentials))
      return this.fetchImpl;
    const { clientCertificate, privateKey, serverCa } = credentials;
    if (!clientCertificate || typeof privateKey !== 'string') return this.fetchImpl;
    return guardedFetch({
      endpoints: this.endpoints,
      identity: { certificate: clientCertificate, privateKey, ...(serverCa ? { serverCa } : {}) },
    });
  }

  private boundedFetch(encoding: ProviderConfig['bodyEncoding'], transport: typeof fetch) {
    return async (
      url: string,
      init: oauth.CustomFetchOptions<'POST', URLSearchParams>,
    ): Promise<Response> => {
      const response = await transport(
        url,
        encoding === 'json'
          ? {
              ...init,
              headers: { ...init.headers, 'content-type': 'application/json' },
              body: JSON.stringify(Object.fromEntries(init.body)),
            }
          : init,
      );
      const bytes = await readBounded(response, MAX_RESPONSE_BYTES);
      return new Response(NULL_BODY_STATUSES.has(response.status) ? null : bytes, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    };
  }

  /**
   * oauth4webapi's errors carry the response body in `cause`, which may hold an access token: only the
   * code and status survive this mapping.
   */
  private mapResponseError(provider: ProviderConfig, status: number, error: unknown): VendError {
    if (error instanceof VendError) return error;
    if (isTimeout(error)) return this.timeout(provider, provider.timeoutMs);
    if (error instanceof oauth.ResponseBodyError) {
      const upstreamError = sanitizeUpstreamCode(error.error);
      return new VendError(
        'upstream_rejected',
        `Provider "${provider.id}" refused the request: ${upstreamError}.`,
        {
          upstreamStatus: status,
          ...(upstreamError === undefined ? {} : { upstreamError }),
        },
      );
    }
    if (error instanceof oauth.WWWAuthenticateChallengeError) {
      const upstreamError = sanitizeUpstreamCode(error.cause[0]?.parameters.error) ?? 'invalid_client';
      return new VendError(
        'upstream_rejected',
        `Provider "${provider.id}" refused the client: ${upstreamError}.`,
        {
          upstreamStatus: status,
          upstreamError,
        },
      );
    }
    if (status >= 400 && status < 500) {
      const meaning =
        status === 401
          ? 'bad client credentials'
          : status === 403
            ? 'scope or audience not granted to this client'
            : 'refused';
      return new VendError(
        'upstream_rejected',
        `Provider "${provider.id}" answered HTTP ${status} (${meaning}).`,
        {
          upstreamStatus: status,
        },
      );
    }
    const reason =
      error instanceof oauth.UnsupportedOperationError
        ? 'token_type is not Bearer'
        : 'not a valid token response';
    return this.invalid(provider, status, reason);
  }

  private invalid(provider: ProviderConfig, status: number, reason: string): VendError {
    return new VendError('upstream_invalid_response', `Provider "${provider.id}" sent ${reason}.`, {
      upstreamStatus: status,
    });
  }

  private timeout(provider: ProviderConfig, timeoutMs: number): VendError {
    return new VendError(
      'upstream_timeout',
      `Provider "${provider.id}" did not answer within ${timeoutMs} ms.`,
    );
  }
}
