import { backoffDelayMs as jitteredDelayMs } from '../../packages/client/src/backoff';

/**
 * When to try the provider again. Exponential backoff with full jitter, so containers that failed together
 * do not retry together; a `Retry-After` the provider sent is honoured when it fits in the time left.
 */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

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
