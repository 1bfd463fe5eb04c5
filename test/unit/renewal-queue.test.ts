import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Clock } from '../../lambda/clock';
import type { InUseMark } from '../../lambda/refresh/in-use-index';
import {
  InProcessRenewalQueue,
  RENEWAL_MAX_RECEIVES,
  RENEWAL_VISIBILITY_SECONDS,
  type RenewalVerdict,
  renewalOf,
} from '../../lambda/refresh/renewal-queue';

const mark = (key: string, renewAt: number): InUseMark => ({
  key,
  providerId: 'p',
  scopes: [],
  principal: 'sealed',
  inUseUntil: renewAt + 100,
  renewAt,
  expiresAt: renewAt + 50,
  tag: 'AAAAAAAAAAAAAAAAAAAAAA',
});

/** The reference: each message's next delivery time, deliveries so far, and whether it is gone. */
interface Model {
  nowMs: number;
  readonly messages: Map<string, { availableAtMs: number; receives: number }>;
  readonly dead: Set<string>;
}

/** A clock the test sets. */
const manualClock = (start: number) => {
  let nowMs = start;
  return {
    now: () => nowMs,
    sleep: async () => undefined,
    set: (ms: number) => {
      nowMs = ms;
    },
  } satisfies Clock & { set(ms: number): void };
};

/** How much of the interesting behaviour the generated runs reached: a test that never retries proves little. */
const exercised = { redeliveries: 0, deliveries: 0, sends: 0 };

interface Real {
  readonly queue: InProcessRenewalQueue;
  readonly clock: ReturnType<typeof manualClock>;
  /** The verdict each key gets when next delivered. */
  readonly verdicts: Map<string, RenewalVerdict>;
}

class Send implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly key: string,
    readonly delaySeconds: number,
  ) {}
  check = (model: Readonly<Model>) => !model.messages.has(this.key) && !model.dead.has(this.key);
  async run(model: Model, real: Real): Promise<void> {
    const nowSeconds = Math.floor(model.nowMs / 1000);
    exercised.sends += 1;
    await real.queue.send([mark(this.key, nowSeconds + this.delaySeconds)], nowSeconds);
    model.messages.set(this.key, { availableAtMs: (nowSeconds + this.delaySeconds) * 1000, receives: 0 });
  }
  toString = () => `send(${this.key}, +${this.delaySeconds}s)`;
}

class Advance implements fc.AsyncCommand<Model, Real> {
  constructor(readonly seconds: number) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    model.nowMs += this.seconds * 1000;
    real.clock.set(model.nowMs);
  }
  toString = () => `advance(${this.seconds}s)`;
}

class Verdict implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly key: string,
    readonly verdict: RenewalVerdict,
  ) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    real.verdicts.set(this.key, this.verdict);
  }
  toString = () => `verdict(${this.key}, ${JSON.stringify(this.verdict)})`;
}

class Deliver implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const delivered: string[] = [];
    exercised.deliveries += 1;
    await real.queue.deliver({
      renewBatch: async (bodies) =>
        bodies.map((body) => {
          const key = renewalOf(body)?.key as string;
          delivered.push(key);
          return real.verdicts.get(key) ?? { kind: 'done' };
        }),
    });
    // Exactly the messages available by now were delivered, each once.
    const expected = [...model.messages]
      .filter(([, message]) => message.availableAtMs <= model.nowMs)
      .map(([key]) => key)
      .sort();
    assert.deepEqual([...delivered].sort(), expected);
    for (const key of delivered) {
      const message = model.messages.get(key) as { availableAtMs: number; receives: number };
      message.receives += 1;
      if (message.receives > 1) exercised.redeliveries += 1;
      const verdict = real.verdicts.get(key) ?? { kind: 'done' };
      if (verdict.kind === 'done') {
        model.messages.delete(key);
      } else if (message.receives >= RENEWAL_MAX_RECEIVES) {
        model.messages.delete(key);
        model.dead.add(key);
      } else {
        message.availableAtMs = model.nowMs + (verdict.afterSeconds ?? RENEWAL_VISIBILITY_SECONDS) * 1000;
      }
    }
    assert.deepEqual(
      real.queue.deadLetters.map((body) => renewalOf(body)?.key).sort(),
      [...model.dead].sort(),
    );
    assert.equal(real.queue.size, model.messages.size);
  }
  toString = () => 'deliver';
}

describe('InProcessRenewalQueue (SQS semantics the refresher relies on)', () => {
  it('delivers a message no earlier than its delay, again after its retry or the visibility timeout, and makes it a dead letter after three deliveries', async () => {
    const keys = fc.constantFrom('a', 'b', 'c', 'd');
    const verdicts = fc.oneof(
      fc.constant<RenewalVerdict>({ kind: 'done' }),
      fc.constant<RenewalVerdict>({ kind: 'retry' }),
      fc
        .integer({ min: 0, max: 40 })
        .map<RenewalVerdict>((afterSeconds) => ({ kind: 'retry', afterSeconds })),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.commands(
          [
            fc.tuple(keys, fc.integer({ min: 0, max: 120 })).map(([key, delay]) => new Send(key, delay)),
            fc.integer({ min: 1, max: 60 }).map((seconds) => new Advance(seconds)),
            fc.tuple(keys, verdicts).map(([key, verdict]) => new Verdict(key, verdict)),
            fc.constant(new Deliver()),
          ],
          { maxCommands: 40, size: 'max' },
        ),
        async (commands) => {
          const start = 1_700_000_000_000;
          const clock = manualClock(start);
          const real: Real = {
            queue: new InProcessRenewalQueue({ clock, concurrency: 1 }),
            clock,
            verdicts: new Map(),
          };
          await fc.asyncModelRun(
            () => ({ model: { nowMs: start, messages: new Map(), dead: new Set<string>() }, real }),
            commands,
          );
        },
      ),
      { seed: 20261206, numRuns: 200 },
    );
    assert.ok(exercised.redeliveries > 20, JSON.stringify(exercised));
  });

  it('hands back what it has no room for, so the run counts it failed', async () => {
    const queue = new InProcessRenewalQueue({ clock: manualClock(0), maxMessages: 2 });
    const refused = await queue.send([mark('a', 10), mark('b', 10), mark('c', 10)], 0);
    assert.deepEqual(
      refused.map((kept) => kept.key),
      ['c'],
    );
  });
});
