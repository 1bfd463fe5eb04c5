/**
 * Exponential backoff with jitter, the one formula behind the provider retries, the provider backoff shared
 * across containers, and the client's retries of 503/504.
 */
export interface Backoff {
  /** The ceiling of the first delay; it doubles with each further one. */
  readonly baseMs: number;
  readonly maxMs: number;
  /** `full`: anywhere up to the ceiling; `half`: at least half of it, so a wait is never near zero. */
  readonly jitter: 'full' | 'half';
}

/** The delay after the `step`-th failure (from 1). */
export function backoffDelayMs(backoff: Backoff, step: number, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, step - 1));
  return backoff.jitter === 'full'
    ? Math.floor(random() * ceiling)
    : Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}
