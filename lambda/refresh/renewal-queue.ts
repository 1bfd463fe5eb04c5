import type { Clock } from '../clock';
import { decodeMark, encodeMark, type InUseMark } from './in-use-index';

/** SQS's longest `DelaySeconds`: a renewal is handed over at most this long before it is due. */
export const MAX_RENEWAL_DELAY_SECONDS = 900;
/**
 * The renewal queue's visibility timeout: a renewal that failed, or whose invocation died, is delivered
 * again this long after. Lambda requires at least the function's timeout (28 s).
 */
export const RENEWAL_VISIBILITY_SECONDS = 30;
/** Deliveries of one renewal before it is a dead letter (and the dead-letter alarm fires). */
export const RENEWAL_MAX_RECEIVES = 3;

/**
 * Where renewals wait until they are due, and from where they are delivered with bounded concurrency:
 * SQS in Lambda (`sqs-renewal-queue.ts`, one delayed message per key, delivered by an event source
 * mapping), {@link InProcessRenewalQueue} in the local run and the tests.
 */
export interface RenewalQueue {
  /**
   * Hands these renewals over, each to be delivered at its mark's `renewAt` (at once when that is past,
   * at most {@link MAX_RENEWAL_DELAY_SECONDS} ahead). Resolves with the marks it could not hand over.
   */
  send(marks: readonly InUseMark[], nowSeconds: number): Promise<readonly InUseMark[]>;
}

/** How long a renewal waits before it is delivered: until its mark's `renewAt`, within SQS's longest delay. */
export const renewalDelaySeconds = (mark: InUseMark, nowSeconds: number): number =>
  Math.min(Math.max(0, mark.renewAt - nowSeconds), MAX_RENEWAL_DELAY_SECONDS);

/** A message's body: the mark itself, authenticated as a whole, so the consumer verifies it again. */
export const renewalBody = (mark: InUseMark): string => encodeMark(mark);
export const renewalOf = (body: string): InUseMark | undefined => decodeMark(body);

/** What a delivered renewal asks of its queue: done with it (delete it), or deliver it again later. */
export type RenewalVerdict =
  | { readonly kind: 'done' }
  /** Again after `afterSeconds`; undefined: after the queue's own visibility timeout. */
  | { readonly kind: 'retry'; readonly afterSeconds?: number };

/** Renews a batch of delivered messages, one verdict per message, in order. */
export interface RenewalConsumer {
  renewBatch(
    bodies: readonly string[],
    options?: { readonly remainingMs?: () => number },
  ): Promise<RenewalVerdict[]>;
}

export interface InProcessRenewalQueueOptions {
  readonly clock: Clock;
  /** Messages one delivery hands the consumer at once (SQS's batch). @default 10 */
  readonly batchSize?: number;
  /** Batches delivered at once (the event source mapping's maximum concurrency). @default 2 */
  readonly concurrency?: number;
  /** How long a delivered message stays invisible without a verdict (SQS's visibility timeout). @default 30 */
  readonly visibilitySeconds?: number;
  /** Deliveries of one message before it goes to the dead letters. @default 3 */
  readonly maxReceives?: number;
  /** Messages held at most; a send beyond is refused (handed back). @default 200_000 */
  readonly maxMessages?: number;
}

interface Held {
  readonly body: string;
  availableAtMs: number;
  receives: number;
  /** Deleted (done, or a dead letter): its heap entries are stale. */
  deleted: boolean;
  /** The `deliver` call that last delivered it: one call delivers a message once at most. */
  deliveredIn: number;
}

/** A heap entry: the message, as available from `atMs`; stale once the message's own time moved on. */
interface Entry {
  readonly message: Held;
  readonly atMs: number;
}

/** Messages by the time they are available, soonest first; an entry a message moved past is skipped. */
class AvailabilityHeap {
  private readonly items: Entry[] = [];

  push(message: Held): void {
    const { items } = this;
    const entry = { message, atMs: message.availableAtMs };
    items.push(entry);
    for (let at = items.length - 1; at > 0; ) {
      const parent = (at - 1) >> 1;
      if ((items[parent] as Entry).atMs <= entry.atMs) break;
      items[at] = items[parent] as Entry;
      items[parent] = entry;
      at = parent;
    }
  }

  /** The soonest message available by `nowMs`, or undefined. */
  popAvailable(nowMs: number): Held | undefined {
    for (let top = this.items[0]; top && top.atMs <= nowMs; top = this.items[0]) {
      this.popTop();
      if (!top.message.deleted && top.message.availableAtMs === top.atMs) return top.message;
    }
    return undefined;
  }

  private popTop(): void {
    const { items } = this;
    const last = items.pop() as Entry;
    if (items.length === 0) return;
    items[0] = last;
    const time = (at: number) => (items[at] as Entry).atMs;
    for (let at = 0; ; ) {
      const left = 2 * at + 1;
      const right = left + 1;
      let least = at;
      if (left < items.length && time(left) < time(least)) least = left;
      if (right < items.length && time(right) < time(least)) least = right;
      if (least === at) break;
      [items[at], items[least]] = [items[least] as Entry, items[at] as Entry];
      at = least;
    }
  }
}

/**
 * The renewal queue of one process: SQS's semantics where the service relies on them (a message is not
 * delivered before its delay, a retried one after its visibility timeout or its own delay, and after
 * `maxReceives` deliveries it is a dead letter), for the local run and the tests. `deliver` is the event
 * source mapping's poll: the caller decides when it runs (a timer, or a test's stepped clock).
 */
export class InProcessRenewalQueue implements RenewalQueue {
  private readonly held = new AvailabilityHeap();
  private live = 0;
  /** Bodies of the messages that were delivered `maxReceives` times without being done. */
  readonly deadLetters: string[] = [];
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly visibilityMs: number;
  private readonly maxReceives: number;
  private readonly maxMessages: number;
  private deliveries = 0;
  /** Messages handed over in all, for the benchmark's counts. */
  sent = 0;

  constructor(private readonly options: InProcessRenewalQueueOptions) {
    this.batchSize = options.batchSize ?? 10;
    this.concurrency = options.concurrency ?? 2;
    this.visibilityMs = (options.visibilitySeconds ?? RENEWAL_VISIBILITY_SECONDS) * 1000;
    this.maxReceives = options.maxReceives ?? RENEWAL_MAX_RECEIVES;
    this.maxMessages = options.maxMessages ?? 200_000;
  }

  async send(marks: readonly InUseMark[], nowSeconds: number): Promise<readonly InUseMark[]> {
    const room = Math.max(0, this.maxMessages - this.size);
    for (const mark of marks.slice(0, room)) {
      const delay = renewalDelaySeconds(mark, nowSeconds);
      this.held.push({
        body: renewalBody(mark),
        availableAtMs: (nowSeconds + delay) * 1000,
        receives: 0,
        deleted: false,
        deliveredIn: 0,
      });
      this.live += 1;
    }
    this.sent += Math.min(room, marks.length);
    return marks.slice(room);
  }

  /** Messages not yet done (delayed, invisible or available). */
  get size(): number {
    return this.live;
  }

  /**
   * Delivers every message available at the clock's time to `consumer`, `concurrency` batches at once,
   * and applies its verdicts; messages a verdict makes available again later wait for a later call.
   */
  async deliver(consumer: RenewalConsumer): Promise<{ delivered: number }> {
    let delivered = 0;
    const call = ++this.deliveries;
    // Made available again during this call (a retry at once): left for the next call, as the next poll.
    const deferred: Held[] = [];
    const nextBatch = (): Array<{ message: Held; receipt: number }> => {
      const nowMs = this.options.clock.now();
      const batch: Array<{ message: Held; receipt: number }> = [];
      for (let message = this.held.popAvailable(nowMs); message; ) {
        if (message.deliveredIn === call) {
          deferred.push(message);
          message = this.held.popAvailable(nowMs);
          continue;
        }
        message.deliveredIn = call;
        // In flight: invisible for the visibility timeout, then delivered again unless a verdict came (as
        // SQS does for an invocation that died holding it).
        message.receives += 1;
        message.availableAtMs = nowMs + this.visibilityMs;
        this.held.push(message);
        batch.push({ message, receipt: message.receives });
        if (batch.length >= this.batchSize) break;
        message = this.held.popAvailable(nowMs);
      }
      return batch;
    };
    const poller = async () => {
      for (let batch = nextBatch(); batch.length > 0; batch = nextBatch()) {
        delivered += batch.length;
        let verdicts: RenewalVerdict[];
        try {
          verdicts = await consumer.renewBatch(batch.map(({ message }) => message.body));
        } catch {
          // The invocation failed as a whole: every message of it comes back after the visibility timeout.
          verdicts = batch.map(() => ({ kind: 'retry' }));
        }
        const nowMs = this.options.clock.now();
        batch.forEach(({ message, receipt }, index) => {
          // A verdict on a delivery that was already superseded (delivered again since) is SQS's stale receipt.
          if (message.deleted || message.receives !== receipt) return;
          const verdict = verdicts[index] ?? { kind: 'retry' };
          if (verdict.kind === 'done') {
            this.delete(message);
            return;
          }
          if (message.receives >= this.maxReceives) {
            this.deadLetters.push(message.body);
            this.delete(message);
            return;
          }
          if (verdict.afterSeconds !== undefined) {
            message.availableAtMs = nowMs + verdict.afterSeconds * 1000;
            this.held.push(message);
          }
        });
      }
    };
    await Promise.all(Array.from({ length: this.concurrency }, poller));
    for (const message of deferred) this.held.push(message);
    return { delivered };
  }

  private delete(message: Held): void {
    message.deleted = true;
    this.live -= 1;
  }
}
