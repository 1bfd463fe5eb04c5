import assert from 'node:assert/strict';
import { InProcessTier } from '../../lambda/cache/in-process-tier';
import type { Clock } from '../../lambda/clock';
import { VendError } from '../../lambda/errors';
import { KeyLease, LeaseAbandoned, type LeaseWork } from '../../lambda/lease/key-lease';

/** A clock the test drives: each sleep moves time on at once, and tells the test someone is waiting. */
class DrivenClock implements Clock {
  ms = 1_800_000_000_000;
  private onSleep: () => void = () => undefined;

  now(): number {
    return this.ms;
  }

  async sleep(ms: number): Promise<void> {
    this.ms += ms;
    this.onSleep();
  }

  /** Resolves on the next sleep: a caller has started waiting. */
  nextSleep(): Promise<void> {
    return new Promise((resolve) => {
      this.onSleep = () => {
        this.onSleep = () => undefined;
        resolve();
      };
    });
  }
}

function setup() {
  const clock = new DrivenClock();
  const lease = new KeyLease({ tier: new InProcessTier({ clock, random: () => 0 }), clock });
  const bounds = () => ({ leaseMs: 5000, untilMs: clock.now() + 12_000 });
  const token = { accessToken: 'renewed', issuedAt: clock.ms / 1000, expiresAt: clock.ms / 1000 + 3600 };
  /** Work that starts, then waits for `finish` before it answers; `started` resolves once it holds the lease. */
  const gatedWork = <T>(answer: () => T) => {
    let finish: () => void = () => undefined;
    let started: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const startedPromise = new Promise<void>((resolve) => {
      started = resolve;
    });
    const work: LeaseWork<T> = async () => {
      started();
      await gate;
      return { token, providerId: 'p', value: answer() };
    };
    return { work, finish: () => finish(), started: startedPromise };
  };
  const never: LeaseWork<string> = async () => assert.fail('the work ran twice');
  return { clock, lease, bounds, token, gatedWork, never };
}

describe('Class: KeyLease, outside any vend', () => {
  it('runs the work once and hands its token to the caller waiting on the holder', async () => {
    const { clock, lease, bounds, gatedWork, never } = setup();
    const holder = gatedWork(() => 'fetched');
    const first = lease.once('k', undefined, holder.work, bounds());
    await holder.started;
    const waiting = clock.nextSleep();
    const second = lease.once('k', undefined, never, bounds());
    await waiting;
    holder.finish();
    assert.deepEqual(await first, { kind: 'done', value: 'fetched' });
    const answer = await second;
    assert.equal(answer.kind, 'superseded');
    assert.equal(answer.kind === 'superseded' && answer.item?.token?.accessToken, 'renewed');
  });

  it("shares the holder's failure with its waiters, who do not run the work", async () => {
    const { clock, lease, bounds, gatedWork, never } = setup();
    const holder = gatedWork((): string => {
      throw new VendError('upstream_rejected', 'refused');
    });
    const first = lease.once('k', undefined, holder.work, bounds());
    await holder.started;
    const waiting = clock.nextSleep();
    const second = lease.once('k', undefined, never, bounds());
    await waiting;
    holder.finish();
    await assert.rejects(first, /refused/);
    assert.deepEqual(await second, { kind: 'failed', error: 'upstream_rejected' });
  });

  it('gives an abandoned lease back with nothing recorded, so the next caller takes it', async () => {
    const { lease, bounds, token } = setup();
    const budget = new VendError('throttled', 'over budget');
    await assert.rejects(
      lease.once('k', undefined, async () => Promise.reject(new LeaseAbandoned(budget)), bounds()),
      (error: unknown) => error === budget,
    );
    const next = await lease.once(
      'k',
      undefined,
      async () => ({ token, providerId: 'p', value: 1 }),
      bounds(),
    );
    assert.deepEqual(next, { kind: 'done', value: 1 });
  });

  it("takes over a dead holder's lease even when the wait ran out with it (issue 28)", async () => {
    const { clock, lease, gatedWork } = setup();
    const dead = gatedWork(() => 'never answered');
    void lease.once('k', undefined, dead.work, { leaseMs: 5000, untilMs: clock.now() + 5000 });
    await dead.started;
    // The waiter's own wait ends with the dead lease: the lease lapses, and the waiter still takes over.
    const answer = await lease.once(
      'k',
      undefined,
      async () => ({
        token: { accessToken: 't', issuedAt: 0, expiresAt: clock.ms / 1000 + 3600 },
        providerId: 'p',
        value: 'taken over',
      }),
      {
        leaseMs: 5000,
        untilMs: clock.now() + 5000,
      },
    );
    assert.deepEqual(answer, { kind: 'done', value: 'taken over' });
  });

  it('waits for whoever took over a dead lease, and no longer than its lease', async () => {
    const { clock, lease, gatedWork, never } = setup();
    const tier = (lease as unknown as { parts: { tier: InProcessTier } }).parts.tier;
    const dead = gatedWork(() => 'never answered');
    void lease.once('k', undefined, dead.work, { leaseMs: 5000, untilMs: clock.now() + 5000 });
    await dead.started;
    const deadUntil = clock.now() + 5000;
    // Another instance takes over the moment the dead lease lapses, and dies as well.
    const waiter = lease.once('k', undefined, never, { leaseMs: 5000, untilMs: clock.now() + 5000 });
    while (clock.now() < deadUntil) await clock.nextSleep();
    assert.equal((await tier.acquire('k', 5000, undefined)).kind, 'acquired');
    const takerUntil = clock.now() + 5000;
    assert.deepEqual(await waiter, { kind: 'timed_out' });
    assert.ok(clock.now() >= takerUntil, 'the waiter waited for the taker to the end of its lease');
    assert.ok(clock.now() < takerUntil + 1000, 'and gave up after it, not taking the key a third time');
  });

  it('does not wait in ifFree, and times out in once when the holder never answers', async () => {
    const { clock, lease, bounds, gatedWork, never } = setup();
    const holder = gatedWork(() => 'late');
    const first = lease.once('k', undefined, holder.work, bounds());
    await holder.started;
    assert.deepEqual(await lease.ifFree('k', undefined, never, 5000), { kind: 'held' });
    // The holder's lease lasts 5 s; this waiter may wait 1 s: it gives up polling, never running the work.
    const untilMs = clock.now() + 1000;
    assert.deepEqual(await lease.once('k', undefined, never, { leaseMs: 5000, untilMs }), {
      kind: 'timed_out',
    });
    holder.finish();
    assert.deepEqual(await first, { kind: 'done', value: 'late' });
  });
});
