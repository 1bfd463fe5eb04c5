import type { Clock } from '../../../lambda/clock';

/** How long nothing may be in flight before sleepers are woken: the CPU-only steps between two calls. */
const SETTLE_MS = 3;

/**
 * The one clock of a model run, shared by every instance of both regions, the scripted provider and the
 * reference model: a discrete-event clock. Time moves when the model advances it, and when everyone is
 * waiting: once no call to a real part (DynamoDB Local, the KMS, the provider, a caller's request not yet
 * at its handler) has been in flight for a few real milliseconds, the clock jumps to the earliest sleeper's
 * wake-up and wakes it. A waiter polling a lease therefore sees exactly as much time pass as the holder's
 * work took in this clock, however slow the machine is; a dead holder (whose call is never counted as in
 * flight) lets the waiters' time run until its lease lapses.
 *
 * Parts that wait on real timers (a table call's bound, a provider request's timeout) are not driven by it:
 * the model's faults are therefore either instant (refused, throttled, 5xx) or slow in this clock's time
 * (a hung table, a slow provider), never slow in real time.
 */
export class ModelClock implements Clock {
  private nowMs: number;
  private inFlight = 0;
  private sleepers: Array<{ readonly untilMs: number; readonly wake: () => void }> = [];
  private tick?: NodeJS.Timeout;

  constructor(startMs: number) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      this.sleepers.push({ untilMs: this.nowMs + Math.max(0, ms), wake });
      this.schedule();
    });
  }

  /** Moves time on (the model's `advance`), waking whoever it passes. */
  advance(ms: number): void {
    this.nowMs += ms;
    this.wakeDue();
  }

  /** Counts `call` as a call to a real part in flight until it settles. */
  async track<T>(call: () => Promise<T>): Promise<T> {
    const done = this.begin();
    try {
      return await call();
    } finally {
      done();
    }
  }

  /** Starts counting something in flight; the function returned ends it (once, however often called). */
  begin(): () => void {
    this.inFlight += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight -= 1;
      this.schedule();
    };
  }

  private schedule(): void {
    if (this.tick || this.sleepers.length === 0) return;
    this.tick = setTimeout(() => {
      this.tick = undefined;
      if (this.inFlight > 0 || this.sleepers.length === 0) return;
      const next = Math.min(...this.sleepers.map((sleeper) => sleeper.untilMs));
      if (next > this.nowMs) this.nowMs = next;
      this.wakeDue();
    }, SETTLE_MS);
  }

  private wakeDue(): void {
    const due = this.sleepers.filter((sleeper) => sleeper.untilMs <= this.nowMs);
    this.sleepers = this.sleepers.filter((sleeper) => sleeper.untilMs > this.nowMs);
    for (const sleeper of due) sleeper.wake();
    this.schedule();
  }

  /** Stops waking anyone (the run is over). */
  stop(): void {
    if (this.tick) clearTimeout(this.tick);
    this.tick = undefined;
    this.sleepers = [];
  }
}
