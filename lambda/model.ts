/**
 * The domain's types, which the request parser, the vendor and the caches all speak: the parser and the
 * core import them from here, not from each other.
 */

/** A token as the cache holds it. Times are epoch seconds, the unit DynamoDB TTL reads. */
export interface CachedToken {
  readonly accessToken: string;
  readonly scope?: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** What a caller asks for; scopes are not yet checked against a provider. */
export interface VendRequest {
  /** Sorted, de-duplicated; `undefined` when the caller did not ask, so the provider default applies. */
  readonly scopes?: readonly string[];
  readonly audience?: string;
  readonly minTtlSeconds?: number;
}

/** What a caller asks to evict: the selectors, and the token it saw rejected, by fingerprint. */
export interface EvictRequest extends VendRequest {
  readonly tokenFingerprint: string;
}

/** The scopes and audience a vend will ask the provider for, after defaults and the allow-lists. */
export interface ResolvedSelectors {
  readonly scopes: readonly string[];
  readonly audience?: string;
}
