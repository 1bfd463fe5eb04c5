import type { ErrorCode } from './errors';

/**
 * When the provider of a key is left alone after failing. The only place this is decided: the shared tiers
 * (DynamoDB, in-process) persist what it returns and nothing else.
 */

/** Failures in a row before the provider is left alone. */
export const FAILURE_THRESHOLD = 3;
const MAX_BACKOFF_MS = 30_000;

/** Upstream faults that say the provider is unwell; a refusal or a malformed answer is not cured by waiting. */
export const countsTowardsBackoff = (error: ErrorCode): boolean =>
  error === 'upstream_unavailable' || error === 'upstream_timeout';

/** After the `failures`-th failure in a row: when may anyone ask the provider again (0: at once). */
export function backoffUntil(failures: number, nowMs: number, random: () => number = Math.random): number {
  if (failures < FAILURE_THRESHOLD) return 0;
  const ceiling = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - FAILURE_THRESHOLD));
  // Half fixed, half jitter: containers that saw the same failure do not all come back at once.
  return nowMs + Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/** What a shared tier records when a lease holder gives the lease back after a failure. */
export interface FailureRecord {
  readonly failures: number;
  readonly retryAtMs: number;
  readonly lastError: ErrorCode;
  readonly failedAtMs: number;
}

export function recordFailure(
  priorFailures: number,
  error: ErrorCode,
  nowMs: number,
  random: () => number = Math.random,
): FailureRecord {
  const counts = countsTowardsBackoff(error);
  const failures = counts ? priorFailures + 1 : priorFailures;
  return {
    failures,
    retryAtMs: counts ? backoffUntil(failures, nowMs, random) : 0,
    lastError: error,
    failedAtMs: nowMs,
  };
}
