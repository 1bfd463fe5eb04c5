import { backoffDelayMs } from '../packages/client/src/backoff';
import type { ErrorCode } from './errors';

/**
 * When the provider of a key is left alone after failing. The only place this is decided: the shared tiers
 * (DynamoDB, in-process) persist what it returns and nothing else.
 */

/** Failures in a row before the provider is left alone. */
export const FAILURE_THRESHOLD = 3;
/** 1 s after the threshold, doubling to 30 s; half fixed, half jitter, so that containers that saw the same
 * failure do not all come back at once. */
const PROVIDER_BACKOFF = { baseMs: 1000, maxMs: 30_000, jitter: 'half' } as const;

/** Upstream faults that say the provider is unwell; a refusal or a malformed answer is not cured by waiting. */
export const countsTowardsBackoff = (error: ErrorCode): boolean =>
  error === 'upstream_unavailable' || error === 'upstream_timeout';

/** After the `failures`-th failure in a row: when may anyone ask the provider again (0: at once). */
export function backoffUntil(failures: number, nowMs: number, random: () => number = Math.random): number {
  if (failures < FAILURE_THRESHOLD) return 0;
  return nowMs + backoffDelayMs(PROVIDER_BACKOFF, failures - FAILURE_THRESHOLD + 1, random);
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
