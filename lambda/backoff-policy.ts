import { backoffDelayMs } from '../packages/client/src/backoff';
import type { ErrorCode } from './errors';

/**
 * When a provider is left alone after failing: the rules, written once, as pure functions over one
 * provider's record. The record is the provider's, not a key's: every key, scope and audience of the
 * provider shares it, and so does every container (see `lease/provider-backoff.ts` for where it is kept).
 *
 * Timeline of a provider that goes down:
 *   attempt fails ×3 in a row (any keys, any containers) → left alone ~1 s → one probe → fails → ~2 s → one
 *   probe → … up to 30 s. A `Retry-After` it sent (429, 503) is a step of its own length, capped at
 *   {@link MAX_RETRY_AFTER_MS}. A probe that is answered (any token) clears the record: recovery is seen by
 *   the first probe.
 */

/** Failed attempts in a row (any of the provider's keys, any container) before the provider is left alone. */
export const FAILURE_THRESHOLD = 3;
/** 1 s after the threshold, doubling to 30 s; half fixed, half jitter, so that containers that saw the same
 * failure do not all come back at once. */
const PROVIDER_BACKOFF = { baseMs: 1000, maxMs: 30_000, jitter: 'half' } as const;
/**
 * The longest `Retry-After` honoured: a provider asking for longer is asked again after this (its callers'
 * cached tokens are served meanwhile). Also the bound beyond which a stored backoff is not this service's.
 */
export const MAX_RETRY_AFTER_MS = 300_000;
/** What callers are told while another caller's probe is under way: ask again in a moment. */
export const PROBE_UNDER_WAY_MS = 1000;
/** No probe's claim lasts longer (the longest lease): a stored claim beyond it is not ours. */
export const MAX_PROBE_MS = 12_000;

/** Upstream faults that say the provider is unwell; a refusal or a malformed answer is not cured by waiting. */
export const countsTowardsBackoff = (error: ErrorCode): boolean =>
  error === 'upstream_unavailable' || error === 'upstream_timeout';

/** One provider's record, as a store keeps it. */
export interface ProviderRecord {
  /** Failed attempts in a row. */
  readonly failures: number;
  /** Epoch ms before which nobody asks the provider; 0 when no backoff step was ever set since the last answer. */
  readonly retryAtMs: number;
  readonly lastError?: ErrorCode;
  /** The caller whose probe is under way (after a step), until when. */
  readonly probeOwner?: string;
  readonly probeUntilMs?: number;
}

export type ProviderStanding =
  /** Anyone may ask. */
  | { readonly kind: 'open' }
  /** Nobody asks before `retryAtMs` (a step, or another caller's probe under way). */
  | { readonly kind: 'backing_off'; readonly retryAtMs: number; readonly lastError: ErrorCode }
  /** A step has passed: the one caller that claims the probe asks. */
  | { readonly kind: 'probe_due' };

/** A time in (now, now + bound]: live. Beyond the bound nobody of this service wrote it. */
const live = (atMs: number | undefined, nowMs: number, boundMs: number): atMs is number =>
  atMs !== undefined && Number.isFinite(atMs) && atMs > nowMs && atMs <= nowMs + boundMs;

/** What the record means at `nowMs`. */
export function providerStanding(record: ProviderRecord | undefined, nowMs: number): ProviderStanding {
  if (!record || record.retryAtMs <= 0 || record.retryAtMs > nowMs + MAX_RETRY_AFTER_MS)
    return { kind: 'open' };
  const lastError = record.lastError ?? 'upstream_unavailable';
  if (live(record.retryAtMs, nowMs, MAX_RETRY_AFTER_MS))
    return { kind: 'backing_off', retryAtMs: record.retryAtMs, lastError };
  if (live(record.probeUntilMs, nowMs, MAX_PROBE_MS)) {
    return {
      kind: 'backing_off',
      retryAtMs: Math.min(record.probeUntilMs, nowMs + PROBE_UNDER_WAY_MS),
      lastError,
    };
  }
  return { kind: 'probe_due' };
}

/**
 * The record after a failed attempt that says the provider is unwell (`retryAfterMs`: the provider's own
 * `Retry-After`, from now). The next step is the later of the backoff's and the provider's; any probe is over.
 */
export function afterFailedAttempt(
  prior: ProviderRecord | undefined,
  failure: { readonly error: ErrorCode; readonly retryAfterMs?: number },
  nowMs: number,
  random: () => number = Math.random,
): ProviderRecord {
  const failures = (prior?.failures ?? 0) + 1;
  const stepped =
    failures >= FAILURE_THRESHOLD
      ? nowMs + backoffDelayMs(PROVIDER_BACKOFF, failures - FAILURE_THRESHOLD + 1, random)
      : 0;
  const asked =
    failure.retryAfterMs === undefined
      ? 0
      : nowMs + Math.min(Math.max(0, failure.retryAfterMs), MAX_RETRY_AFTER_MS);
  const pending = prior && live(prior.retryAtMs, nowMs, MAX_RETRY_AFTER_MS) ? prior.retryAtMs : 0;
  const retryAtMs = Math.max(stepped, asked, pending);
  return {
    failures,
    // A provider that said "now" (Retry-After: 0) still gets one probe, not every caller at once.
    retryAtMs: retryAtMs === 0 && failure.retryAfterMs !== undefined ? nowMs : retryAtMs,
    lastError: failure.error,
  };
}

/** The record with `owner`'s probe claimed for `probeMs` (at most {@link MAX_PROBE_MS}); only when a probe is due. */
export function withProbe(
  record: ProviderRecord,
  owner: string,
  nowMs: number,
  probeMs: number,
): ProviderRecord {
  return { ...record, probeOwner: owner, probeUntilMs: nowMs + Math.max(1, Math.min(probeMs, MAX_PROBE_MS)) };
}

/** Whether the record holds anything an answer must clear. */
export const isFailing = (record: ProviderRecord | undefined): boolean =>
  record !== undefined && (record.failures > 0 || record.retryAtMs > 0 || record.probeOwner !== undefined);
