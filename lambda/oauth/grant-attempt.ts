import * as oauth from 'oauth4webapi';
import type { CachedToken } from '../cache/token-store';
import type { ProviderConfig } from '../config/provider-schema';
import { isLoopbackHost } from '../config/provider-schema';
import type { ClientCredentials } from '../credentials/client-credentials';
import { clientAuthenticationFor } from './client-authentication';
import { grantFor } from './grant';
import { parseRetryAfter } from './retry-policy';
import { MIN_LIFETIME_SECONDS, MIN_SECONDS_LEFT_ON_ARRIVAL, tokenExpiry } from './token-lifetime';
import {
  MAX_RESPONSE_BYTES,
  ResponseTooLargeError,
  type TransportOptions,
  tokenTransport,
} from './token-transport';
import {
  forbiddenAddress,
  invalidResponse,
  isTimeout,
  mapResponseError,
  nameOf,
  upstreamTimeout,
} from './upstream-errors';

export interface TokenGrantRequest {
  readonly provider: ProviderConfig;
  readonly credentials: ClientCredentials;
  readonly scopes: readonly string[];
  readonly audience?: string;
}

/** One attempt's outcome: a token, or a fault worth another try. Anything final is thrown as a VendError. */
export type Attempt =
  | { readonly kind: 'granted'; readonly token: CachedToken; readonly status: number }
  | {
      readonly kind: 'retryable';
      readonly reason: string;
      readonly status?: number;
      readonly retryAfterMs?: number;
    };

/**
 * One request and its response through oauth4webapi, in the dialect the provider's entry names: the
 * client-credentials grant (RFC 6749 §4.4) or an assertion grant, with the client authentication it asks for.
 */
export async function attemptGrant(
  request: TokenGrantRequest,
  timeoutMs: number,
  transport: TransportOptions,
  now: () => number,
): Promise<Attempt> {
  const { provider, credentials } = request;
  const endpoint = new URL(provider.tokenEndpoint);
  const authorizationServer: oauth.AuthorizationServer = {
    issuer: endpoint.origin,
    token_endpoint: provider.tokenEndpoint,
  };
  const client: oauth.Client = { client_id: credentials.clientId };
  const clientAuth = await clientAuthenticationFor(provider, credentials);
  const requestedAtSeconds = Math.floor(now() / 1000);
  const grant = await grantFor(provider, credentials, request.scopes, request.audience, requestedAtSeconds);
  const options: oauth.TokenEndpointRequestOptions = {
    signal: AbortSignal.timeout(Math.max(1, timeoutMs)),
    [oauth.customFetch]: tokenTransport(provider, credentials, transport),
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
    if (isTimeout(error)) throw upstreamTimeout(provider, timeoutMs);
    if (error instanceof ResponseTooLargeError) {
      throw invalidResponse(provider, error.status, `a response larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    const cause = (error as { cause?: unknown }).cause;
    if (nameOf(cause) === 'ForbiddenAddressError') throw forbiddenAddress(provider, cause as Error);
    // fetch rejects with a TypeError for refused, reset and unresolvable connections.
    if (nameOf(error) === 'TypeError') return { kind: 'retryable', reason: 'connection failed' };
    throw error;
  }

  if (response.status >= 500 || response.status === 429) {
    await response.body?.cancel().catch(() => undefined);
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now());
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
      throw invalidResponse(provider, response.status, 'token_type is not Bearer');
    }
    const expiresAt = tokenExpiry(
      body.access_token,
      body.expires_in,
      requestedAtSeconds,
      provider.maxTokenLifetimeSeconds,
    );
    if (expiresAt === undefined) {
      throw invalidResponse(provider, response.status, 'no usable expires_in or JWT exp');
    }
    const lifetime = expiresAt - requestedAtSeconds;
    const left = Math.floor(expiresAt - now() / 1000);
    if (lifetime < MIN_LIFETIME_SECONDS || left < MIN_SECONDS_LEFT_ON_ARRIVAL) {
      throw invalidResponse(
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
    throw mapResponseError(provider, response.status, error);
  }
}
