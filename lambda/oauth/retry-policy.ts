import { backoffDelayMs as jitteredDelayMs } from '../../packages/client/src/backoff';

/**
 * When to try the provider again. Exponential backoff with full jitter, so containers that failed together
 * do not retry together; a short `Retry-After` the provider sent is waited out (at most
 * {@link LONGEST_RETRY_AFTER_WAIT_MS}, and only within the time left); a longer one ends the grant.
 */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * The longest `Retry-After` a grant waits out itself before asking again. A longer one ends the grant at
 * once: its callers get 503 with the time left (and every instance honours it), rather than holding a
 * caller, and the callers waiting on its lease, for seconds.
 */
export const LONGEST_RETRY_AFTER_WAIT_MS = 1000;

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2000 };

/** Delay before attempt `attempt + 1` (attempts count from 1): full jitter up to a doubling ceiling. */
export function backoffDelayMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  return jitteredDelayMs(
    { baseMs: policy.baseDelayMs, maxMs: policy.maxDelayMs, jitter: 'full' },
    attempt,
    random,
  );
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. Returns milliseconds from `nowMs`, or undefined. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
