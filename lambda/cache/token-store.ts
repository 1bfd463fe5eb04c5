import type { CachedToken } from '../model';

export type { CachedToken };

/** Storage only; the freshness policy lives in the vend service. */
export interface TokenStore {
  get(key: string): Promise<CachedToken | undefined>;
  put(key: string, token: CachedToken, context: { readonly providerId: string }): Promise<void>;
  delete(key: string): Promise<void>;
}
