/**
 * The one seam for time: what the service reads as now and how it waits. Unit tests hand in a clock they
 * drive; nothing else calls `Date.now` or `setTimeout` for the service's decisions.
 */
export interface Clock {
  /** Epoch ms. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

/** A clock whose `now` is given and whose sleeps are real: for parts handed only a `now`. */
export const clockOf = (now: (() => number) | undefined): Clock =>
  now === undefined ? systemClock : { now, sleep: systemClock.sleep };
