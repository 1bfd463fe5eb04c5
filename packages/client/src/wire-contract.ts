import { createHash } from 'node:crypto';

/**
 * The API's wire contract, shared by the function (which answers it) and the client (which reads it):
 * error codes with their statuses, the token response, the provider summary, and how scopes are compared.
 * Nothing here may import from the function or the client.
 */

/** Every error a caller can see, with its HTTP status (docs/DESIGN.md, "Errors"). */
export const ERROR_STATUS = {
  invalid_request: 400,
  /** Also for a provider that does not exist: one answer, so that provider ids cannot be probed. */
  access_denied: 403,
  upstream_rejected: 502,
  upstream_invalid_response: 502,
  upstream_unavailable: 503,
  upstream_timeout: 504,
  /** This caller's upstream budget, or the provider's, is spent for now; or the API's stage throttling. */
  throttled: 429,
  service_unavailable: 503,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Every error's body; a `Retry-After` header goes with it where known. */
export interface ErrorBody {
  readonly error: ErrorCode;
  readonly message: string;
  readonly request_id: string;
  /** The provider's OAuth `error`, where it said one. */
  readonly upstream_error?: string;
}

/** The 200 body of `POST /v1/tokens/{provider}`. */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  /** Whole seconds left, at least 1. */
  readonly expires_in: number;
  readonly expires_at: string;
  readonly scope?: string;
}

/** One entry of `GET /v1/providers`: what this caller may vend; never a secret id or an endpoint's credentials. */
export interface ProviderSummary {
  readonly id: string;
  readonly description?: string;
  readonly defaultAudience?: string;
  readonly allowedAudiences: readonly string[];
  readonly defaultScopes: readonly string[];
  readonly allowedScopes: readonly string[];
  /** How long the provider's tokens last, once the service has seen one: the ceiling of a useful `min_ttl`. */
  readonly tokenLifetimeSeconds?: number;
}

/**
 * A token's fingerprint: the first 16 hex digits of its SHA-256. Names a token without holding it: in an
 * evict request (which token the caller saw rejected) and in the audit log (who received which token).
 */
/**
 * What a `DELETE` did, in the header {@link EVICT_OUTCOME_HEADER} of its 204: evicted the token named;
 * found no cached token; found another token than the one named (not evicted); or kept the named token
 * because it was issued under 15 s ago.
 */
export const EVICT_OUTCOMES = ['evicted', 'absent', 'not_current', 'too_young'] as const;
export type EvictOutcome = (typeof EVICT_OUTCOMES)[number];
export const EVICT_OUTCOME_HEADER = 'x-tvm-evict-outcome';

export function tokenFingerprint(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'utf8').digest('hex').slice(0, 16);
}

/** Splits, trims, de-duplicates and sorts, so "a b", "b a" and ["b","a"] are the same request. */
export function normalizeScopes(scope: string | readonly string[]): string[] {
  const tokens = (typeof scope === 'string' ? [scope] : scope).flatMap((part) => part.split(' '));
  return [...new Set(tokens.filter((token) => token.length > 0))].sort();
}
