import type { Clock } from '../../../lambda/clock';

/**
 * The one clock of a model run, shared by every instance of both regions, the scripted provider and the
 * reference model. Time moves only when the model advances it or when someone sleeps on it: a sleep of
 * `ms` yields to the event loop (so real I/O of DynamoDB Local, the KMS and the provider goes on) and
 * returns with the clock at least `ms` later. Sleeps that overlap do not add up, so a waiter polling a
 * lease sees the lease run out after as many polls as its length needs, however slow the machine is.
 *
 * Only parts that wait through the seam move it: real-time bounds (a table call's timeout, a provider
 * request's) stay real, which is why the faults of the model are either instant (refused, throttled, 5xx)
 * or slow in this clock's time (the provider's `slow`), never slow in real time.
 */
export class ModelClock implements Clock {
  private nowMs: number;

  constructor(startMs: number) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  async sleep(ms: number): Promise<void> {
    const until = this.nowMs + Math.max(0, ms);
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
    if (this.nowMs < until) this.nowMs = until;
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }
}
