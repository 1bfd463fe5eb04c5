import * as oauth from 'oauth4webapi';
import type { ProviderConfig } from '../config/provider-schema';
import { VendError } from '../errors';

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

/** A provider-supplied error code, reduced to what is safe to pass on. */
function sanitizeUpstreamCode(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return typeof value === 'string' && OAUTH_ERROR_CODES.has(value) ? value : 'other';
}

/** An error's name, read without `instanceof`: fetch's errors may come from another realm than this code. */
export const nameOf = (error: unknown): unknown =>
  typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;

export const isTimeout = (error: unknown): boolean =>
  nameOf(error) === 'TimeoutError' || nameOf(error) === 'AbortError';

export function invalidResponse(provider: ProviderConfig, status: number, reason: string): VendError {
  return new VendError('upstream_invalid_response', `Provider "${provider.id}" sent ${reason}.`, {
    upstreamStatus: status,
  });
}

export function upstreamTimeout(provider: ProviderConfig, timeoutMs: number): VendError {
  return new VendError(
    'upstream_timeout',
    `Provider "${provider.id}" did not answer within ${timeoutMs} ms.`,
  );
}

/** Not retried: the same name resolves to the same place, and asking again only knocks on it again. */
export function forbiddenAddress(provider: ProviderConfig, cause: Error): VendError {
  return new VendError(
    'upstream_unavailable',
    `Provider "${provider.id}" cannot be reached: its token endpoint ${cause.message.replace(/^\S+ /, '')}, where the service does not connect.`,
  );
}

/**
 * oauth4webapi's errors carry the response body in `cause`, which may hold an access token: only the
 * code and status survive this mapping.
 */
export function mapResponseError(provider: ProviderConfig, status: number, error: unknown): VendError {
  if (error instanceof VendError) return error;
  if (isTimeout(error)) return upstreamTimeout(provider, provider.timeoutMs);
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
  return invalidResponse(provider, status, reason);
}
