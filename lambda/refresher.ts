import type { Clock } from './clock';
import type { Log } from './logging';
import { type InUseIndex, type InUseMark, latestPerKey, markFields } from './refresh/in-use-index';
import type { MarkAuthenticator } from './refresh/mark-authenticator';
import {
  type InProcessRenewalQueue,
  MAX_RENEWAL_DELAY_SECONDS,
  type RenewalConsumer,
  type RenewalQueue,
} from './refresh/renewal-queue';
import {
  noRenewals,
  type RenewalBatch,
  type RenewalCounts,
  type RenewalWorker,
} from './refresh/renewal-worker';

/** The stack's schedule: one run a minute. */
export const REFRESH_PERIOD_SECONDS = 60;
/** A run hands over no renewal after this long, whatever time the invocation has left. */
export const REFRESH_RUN_BUDGET_MS = 20_000;
/** A run stops handing over renewals when its invocation has less than this left (Lambda's timeout). */
export const RUN_RESERVE_MS = 3000;
/**
 * A run looks this far past the next run's start as well, and the marker hands a mark to the queue itself
 * when it falls due before then: a run that starts a little late (the schedule's jitter) misses nothing.
 */
const LATE_RUN_SLACK_SECONDS = 10;
/** A run that finds no watermark (the first, or its item expired) looks back this far. */
const FIRST_RUN_LOOKBACK_SECONDS = 3600;
/** Marks one send hands over (SQS's SendMessageBatch takes 10). */
const SEND_CHUNK = 10;
/** Sends of one run at once. */
const SENDS_AT_ONCE = 4;

/**
 * How far ahead of `renewAt` the refresher hands a mark to the queue (as a delayed message): a period and
 * the slack, never more than the queue can delay. A mark due sooner than this after it is written goes to
 * the queue at once (the marker's choice), since the run that covers its time may be over.
 */
export const renewalHorizonSeconds = (periodSeconds: number): number =>
  Math.min(periodSeconds + LATE_RUN_SLACK_SECONDS, MAX_RENEWAL_DELAY_SECONDS);

export interface RefresherParts {
  readonly index: InUseIndex;
  readonly queue: RenewalQueue;
  readonly marks: MarkAuthenticator;
  readonly clock: Clock;
  readonly log: Log;
  readonly periodSeconds: number;
  /**
   * With the in-process queue (local run, tests): the queue and its consumer, so that a run delivers what
   * is due by its time, as the event source mapping would. @default none: SQS delivers (Lambda)
   */
  readonly inProcess?: { readonly queue: InProcessRenewalQueue; readonly worker: RenewalWorker };
  /** A run hands over nothing after this long. @default REFRESH_RUN_BUDGET_MS */
  readonly runBudgetMs?: number;
  /** Told of every run as it ends. @default none */
  readonly metrics?: RefreshRunMetrics;
}

/**
 * What a run did: the keys due in its window (`due`), handed to the queue (`queued`), left for the next
 * run (`not_started`), refused as unauthenticated (`rejected`), `failed` (the index unread, a send
 * refused); with the in-process queue, what the renewals it delivered did as well.
 */
export type RefreshReport = { readonly due: number; readonly queued: number } & Readonly<RenewalCounts>;

/** What one run did, for its metrics. */
export interface RefreshRun {
  /** Absent when the run threw before it had counted its keys. */
  readonly report?: RefreshReport;
  readonly durationMs: number;
  /** Renewals that minted a token, by provider id: the quota alarms count them as any fetch's. */
  readonly renewedByProvider: ReadonlyMap<string, number>;
}

/**
 * Publishes a run's metrics as it ends: a scheduled invocation has no request line, so nothing else would
 * publish what the run counted (or the table errors it met) before the container goes idle.
 */
export interface RefreshRunMetrics {
  refreshRun(run: RefreshRun): void;
  renewalBatch(batch: RenewalBatch): void;
}

/** When a run must end: its invocation's remaining time (Lambda's `getRemainingTimeInMillis`). */
export interface RunDeadline {
  readonly remainingMs?: () => number;
}

/**
 * Plans the renewals of the keys callers use: each run reads the index buckets from where the last run
 * stopped (a watermark) up to a period ahead (never a scan), authenticates every mark, keeps the latest per
 * key, and hands each to the renewal queue to be delivered at its `renewAt` — the queue (SQS, an event
 * source mapping with bounded concurrency) does the renewing. A run that runs out of time leaves the
 * watermark where it stopped: the next run hands over the rest. A key nobody vended since its token was
 * issued has no mark for that token, so it is not renewed: it expires.
 */
export class Refresher {
  constructor(private readonly parts: RefresherParts) {}

  async refreshDueKeys(
    nowMs: number = this.parts.clock.now(),
    deadline: RunDeadline = {},
  ): Promise<RefreshReport> {
    const started = this.parts.clock.now();
    const renewedByProvider = new Map<string, number>();
    let report: RefreshReport | undefined;
    try {
      report = await this.run(nowMs, deadline);
      if (this.parts.inProcess) report = merge(report, await this.deliverCounted(renewedByProvider));
      return report;
    } finally {
      const durationMs = this.parts.clock.now() - started;
      this.parts.metrics?.refreshRun({ ...(report ? { report } : {}), durationMs, renewedByProvider });
    }
  }

  /** With the in-process queue: delivers the renewals due by the clock's time (the event source mapping's poll). */
  async deliverRenewals(): Promise<RenewalCounts> {
    return this.deliverCounted(new Map());
  }

  private async deliverCounted(renewedByProvider: Map<string, number>): Promise<RenewalCounts> {
    const counts = noRenewals();
    const inProcess = this.parts.inProcess;
    if (!inProcess) return counts;
    // What the batches did is added to the run's own report (and published with it), not published apart.
    const consumer: RenewalConsumer = {
      renewBatch: async (bodies, options) => {
        const { verdicts, batch } = await inProcess.worker.renewCounted(bodies, options);
        for (const [name, value] of Object.entries(batch.counts))
          counts[name as keyof RenewalCounts] += value;
        for (const [provider, renewed] of batch.renewedByProvider) {
          renewedByProvider.set(provider, (renewedByProvider.get(provider) ?? 0) + renewed);
        }
        return verdicts;
      },
    };
    await inProcess.queue.deliver(consumer);
    return counts;
  }

  private async run(nowMs: number, deadline: RunDeadline): Promise<RefreshReport> {
    const { clock, index, log, marks, periodSeconds, queue } = this.parts;
    const nowSeconds = Math.floor(nowMs / 1000);
    const stopAt = clock.now() + (this.parts.runBudgetMs ?? REFRESH_RUN_BUDGET_MS);
    const outOfTime = () =>
      clock.now() >= stopAt || (deadline.remainingMs?.() ?? Number.POSITIVE_INFINITY) < RUN_RESERVE_MS;
    const counts = noRenewals();
    const until = nowSeconds + renewalHorizonSeconds(periodSeconds);
    let stored: readonly InUseMark[];
    let from: number;
    try {
      const watermark = await index.plannedUntil();
      from = Math.min(
        Math.max(
          watermark ?? nowSeconds - periodSeconds - LATE_RUN_SLACK_SECONDS,
          nowSeconds - FIRST_RUN_LOOKBACK_SECONDS,
        ),
        until,
      );
      const read = await index.due(from, until);
      stored = read.marks;
      counts.rejected += read.malformed;
    } catch (error) {
      // Nothing is known to be due: the run failed, and says so (RefreshFailures), never "nothing due".
      counts.failed += 1;
      log.warn('refresher could not read the in-use index', {
        event: 'refresh_failed',
        operation: 'index',
        error: error instanceof Error ? error.name : 'unknown',
      });
      return this.finish({ due: 0, queued: 0, ...counts });
    }
    const verified: InUseMark[] = [];
    for (const mark of stored) {
      if (await marks.verify(markFields(mark), mark.tag)) verified.push(mark);
      else counts.rejected += 1;
    }
    const due = latestPerKey(verified, from, until)
      .filter((mark) => mark.inUseUntil > nowSeconds)
      .sort((a, b) => a.renewAt - b.renewAt);
    let queued = 0;
    // Every mark at or before the watermark was handed over: it moves only past a contiguous prefix.
    let handedUntil = until;
    const chunks: InUseMark[][] = [];
    for (let start = 0; start < due.length; start += SEND_CHUNK)
      chunks.push(due.slice(start, start + SEND_CHUNK));
    let next = 0;
    const sender = async () => {
      for (let at = next++; at < chunks.length; at = next++) {
        const chunk = chunks[at] as InUseMark[];
        if (outOfTime()) {
          counts.not_started += chunk.length;
          handedUntil = Math.min(handedUntil, (chunk[0] as InUseMark).renewAt - 1);
          continue;
        }
        let refused: readonly InUseMark[];
        try {
          refused = await queue.send(chunk, nowSeconds);
        } catch {
          refused = chunk;
        }
        queued += chunk.length - refused.length;
        if (refused.length > 0) {
          counts.failed += refused.length;
          handedUntil = Math.min(handedUntil, Math.min(...refused.map((mark) => mark.renewAt)) - 1);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SENDS_AT_ONCE, chunks.length) }, sender));
    try {
      if (handedUntil > from) await index.planned(handedUntil);
    } catch {
      // The next run looks back from the older watermark: it hands some marks over again (each renews once).
      counts.failed += 1;
    }
    return this.finish({ due: due.length, queued, ...counts });
  }

  private finish(report: RefreshReport): RefreshReport {
    this.parts.log.info('refresher run', { event: 'refresher_run', ...report });
    return report;
  }
}

const merge = (report: RefreshReport, delivered: RenewalCounts): RefreshReport => {
  const merged = { ...report } as Record<string, number>;
  for (const [name, value] of Object.entries(delivered)) merged[name] = (merged[name] ?? 0) + value;
  return merged as RefreshReport;
};
