import type { ErrorCode, UpstreamExchange } from './errors';
import type { CachedToken, ResolvedSelectors } from './model';

/**
 * Where the token came from: this container's memory, the shared table, the provider because nothing
 * usable was cached (`miss`), or the provider ahead of expiry while others were still served (`refresh`).
 */
export type CacheOutcome = 'memory' | 'table' | 'miss' | 'refresh';

export interface VendOutcome {
  readonly token: CachedToken;
  readonly cache: CacheOutcome;
  readonly upstream?: UpstreamExchange;
  /** A table hit on another region's item (as replicated here): that region. */
  readonly peerRegion?: string;
  /** The provider failed, and a cached token that still meets the caller's min_ttl was served instead. */
  readonly upstreamFailure?: ErrorCode;
  /** What the token was asked for, after defaults: for the audit trail. */
  readonly selectors?: ResolvedSelectors;
}
