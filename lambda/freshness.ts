import { createHash } from 'node:crypto';
import type { ProviderConfig } from './config/provider-schema';
import type { CachedToken } from './model';

/**
 * When a cached token is good enough, and when it is due for renewal. Times are epoch seconds.
 *
 *   issuedAt ─────────────── refresh-ahead point ──── margin ──── expiresAt
 *            served as is     one caller renews,      a miss:      expired
 *                             the others are served   renewed before serving
 *
 * The margin is the provider's `refreshMarginSeconds`, never more than half the token's lifetime, so one
 * setting fits 24-hour tokens and Keycloak's 300-second ones. Renewal starts a further 10–20 % of the
 * lifetime before the margin, jittered per key so that many keys issued together are not renewed together.
 */
export class Freshness {
  private readonly refreshFraction: number;

  constructor(
    private readonly provider: ProviderConfig,
    key: string,
    /** The caller's `min_ttl`, if it gave one. */
    private readonly minTtlSeconds?: number,
  ) {
    const jitter = createHash('sha256').update(key).digest().readUInt32BE(0) / 0xffffffff;
    this.refreshFraction = 0.1 + 0.1 * jitter;
  }

  marginSeconds(token: CachedToken): number {
    return Math.min(this.provider.refreshMarginSeconds, Math.floor(lifetime(token) / 2));
  }

  /** Served without a second thought: outside the margin and the caller's min_ttl. */
  isFresh(token: CachedToken, nowSeconds: number): boolean {
    return secondsLeft(token, nowSeconds) > Math.max(this.marginSeconds(token), this.minTtlSeconds ?? 0);
  }

  /**
   * Good enough when the provider cannot give a better one: it meets the caller's min_ttl, which defaults
   * to the margin (docs/DESIGN.md). Never one with less than a second left: a caller would be told `expires_in: 0`.
   */
  isUsable(token: CachedToken, nowSeconds: number): boolean {
    const left = secondsLeft(token, nowSeconds);
    return left >= 1 && left > (this.minTtlSeconds ?? this.marginSeconds(token));
  }

  isRefreshDue(token: CachedToken, nowSeconds: number): boolean {
    return secondsLeft(token, nowSeconds) <= this.refreshAheadSeconds(token);
  }

  /**
   * When the request path would start renewing this token (epoch seconds): at its refresh-ahead point, or
   * once it is no longer worth caching, whichever comes first (for tokens of a few tens of seconds).
   */
  refreshDueAt(token: CachedToken): number {
    return token.expiresAt - Math.max(this.refreshAheadSeconds(token), MIN_CACHEABLE_SECONDS);
  }

  private refreshAheadSeconds(token: CachedToken): number {
    return this.marginSeconds(token) + Math.floor(lifetime(token) * this.refreshFraction);
  }

  /**
   * Worth keeping for the next caller at all: outside its margin and with more than a few seconds left. A
   * token that is not is returned to the caller who asked, and the next caller gets a new one.
   */
  isWorthCaching(token: CachedToken, nowSeconds: number): boolean {
    return secondsLeft(token, nowSeconds) > Math.max(this.marginSeconds(token), MIN_CACHEABLE_SECONDS);
  }
}

/** Below this, a token would expire in the hands of whoever got it from the cache. */
const MIN_CACHEABLE_SECONDS = 10;

const lifetime = (token: CachedToken) => token.expiresAt - token.issuedAt;
const secondsLeft = (token: CachedToken, nowSeconds: number) => token.expiresAt - nowSeconds;
