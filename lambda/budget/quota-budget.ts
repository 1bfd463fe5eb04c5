import type { ProviderConfig } from '../config/provider-schema';

/** A quota's budget is counted per UTC day. */
export const QUOTA_WINDOW_MS = 86_400_000;

/**
 * How many shares a `"*"` provider's day is split into: its callers are not known in advance, so none may
 * take more than this fraction of the day, however many there are.
 */
export const ANY_CALLER_SHARES = 4;

/** What a provider's `tokenQuota` allows, per UTC day and per region. */
export interface QuotaBudget {
  /** New tokens all callers together may cause in a UTC day. */
  readonly perDay: number;
  /** New tokens one caller may cause in a UTC day. */
  readonly perCallerPerDay: number;
}

/**
 * The budget a `tokenQuota` implies, or undefined for a provider without one. The quota is spread evenly over
 * the UTC days of its period: any stretch of `periodDays` days touches at most `periodDays + 1` of them (an
 * Auth0 month counted from another hour than midnight UTC included), so `tokens / (periodDays + 1)` a day can
 * never add up to more than the quota, in any period. Each region counts its own budget (the counters are
 * region-owned), so each takes an equal share. The burst is the day's budget: it may all go in one minute,
 * and then nothing more is minted until the UTC day turns.
 *
 * One caller may take an equal share of the day among the provider's named callers, at least one token
 * (a `"*"` provider: a {@link ANY_CALLER_SHARES}th): no caller can take another's share away, except where
 * there are more callers than tokens in a day, and the provider's own count holds them all to the day.
 */
export function quotaBudget(provider: ProviderConfig, regions = 1): QuotaBudget | undefined {
  const quota = provider.tokenQuota;
  if (!quota) return undefined;
  const perDay = Math.floor(quota.tokens / ((quota.periodDays + 1) * Math.max(1, regions)));
  const callers = provider.callers.includes('*') ? ANY_CALLER_SHARES : provider.callers.length;
  const share = Math.floor(perDay / Math.max(1, callers));
  return { perDay, perCallerPerDay: perDay === 0 ? 0 : Math.max(1, share) };
}
