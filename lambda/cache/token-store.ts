/** A token as the cache holds it. Times are epoch seconds, the unit DynamoDB TTL reads. */
export interface CachedToken {
  readonly accessToken: string;
  readonly scope?: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** Storage only; the freshness policy lives in the vend service. */
export interface TokenStore {
  get(key: string): Promise<CachedToken | undefined>;
  put(key: string, token: CachedToken, context: { readonly providerId: string }): Promise<void>;
  delete(key: string): Promise<void>;
}
