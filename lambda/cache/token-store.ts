import type { CachedToken } from '../model';

export type { CachedToken };

/** Storage only; the freshness policy lives in the vend service. */
export interface TokenStore {
  get(key: string): Promise<CachedToken | undefined>;
  /**
   * The copy kept past the time it is trusted (until it expires), for the one case where nothing better
   * is known: the shared table cannot be read and the provider fails. @default none kept
   */
  lastKnown?(key: string): Promise<CachedToken | undefined>;
  put(key: string, token: CachedToken, context: { readonly providerId: string }): Promise<void>;
  delete(key: string): Promise<void>;
}
