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
