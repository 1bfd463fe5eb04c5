/**
 * Concurrent calls with one key share one piece of work: 50 cold vends of a key in a container make one
 * upstream request. The entry is gone once the work settles, so a failure is never cached.
 *
 * The work may publish an early answer for the callers who joined it (a still-valid token, while the
 * first caller renews it): they get that at once; the first caller waits for the work itself.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  run(key: string, work: (publish: (early: T) => void) => Promise<T>): Promise<T> {
    const joined = this.inFlight.get(key);
    if (joined) return joined;
    let publish: (early: T) => void = () => undefined;
    const early = new Promise<T>((resolve) => {
      publish = resolve;
    });
    const result = work((value) => publish(value)).finally(() => this.inFlight.delete(key));
    const forJoiners = Promise.race([early, result]);
    // Nobody may join; a failure is then the first caller's to handle, not an unhandled rejection here.
    forJoiners.catch(() => undefined);
    this.inFlight.set(key, forJoiners);
    return result;
  }

  get size(): number {
    return this.inFlight.size;
  }
}
