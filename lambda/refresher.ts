import type { SealedPrincipals } from './budget/caller-counter-names';
import type { Clock } from './clock';
import type { Log } from './logging';
import type { InUseIndex, InUseMark } from './refresh/in-use-index';
import type { RenewOutcome, TokenVendor } from './token-vendor';

/** The stack's schedule: one run a minute. */
export const REFRESH_PERIOD_SECONDS = 60;
/** A run starts no renewal after this long: the function's timeout is 28 s. */
export const REFRESH_RUN_BUDGET_MS = 20_000;
/** Renewals one run makes at once: a provider sees at most this many of the refresher's requests together. */
const RENEWALS_AT_ONCE = 8;
/**
 * A run looks this far (at most a period) behind the previous run's window as well: a run that starts a
 * little late (the schedule's own jitter) still finds the keys that fell due just before it.
 */
const LATE_RUN_SLACK_SECONDS = 10;

export interface RefresherParts {
  readonly index: InUseIndex;
  readonly vendor: Pick<TokenVendor, 'renewMarked'>;
  /** Opens the sealed principal of each mark. */
  readonly principals: SealedPrincipals;
  readonly clock: Clock;
  readonly log: Log;
  readonly periodSeconds: number;
  /** A run starts no renewal after this long. @default REFRESH_RUN_BUDGET_MS */
  readonly runBudgetMs?: number;
  /** Told of every run as it ends. @default none */
  readonly metrics?: RefreshRunMetrics;
}

export type RefreshReport = { readonly due: number } & Readonly<Record<RenewOutcome | 'not_started', number>>;

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
}

/**
 * Renews the keys callers are using before the request path would: each run reads the index buckets due
 * since the last run (never a scan) and renews each due key through the vendor, under its lease. A key
 * nobody vended since its token was issued has no mark for that token, so it is not renewed: it expires.
 */
export class Refresher {
  constructor(private readonly parts: RefresherParts) {}

  async refreshDueKeys(nowMs: number = this.parts.clock.now()): Promise<RefreshReport> {
    const started = this.parts.clock.now();
    const renewedByProvider = new Map<string, number>();
    let report: RefreshReport | undefined;
    try {
      report = await this.run(nowMs, renewedByProvider);
      return report;
    } finally {
      const durationMs = this.parts.clock.now() - started;
      this.parts.metrics?.refreshRun({ ...(report ? { report } : {}), durationMs, renewedByProvider });
    }
  }

  private async run(nowMs: number, renewedByProvider: Map<string, number>): Promise<RefreshReport> {
    const { clock, index, log, periodSeconds, vendor } = this.parts;
    const nowSeconds = Math.floor(nowMs / 1000);
    const until = clock.now() + (this.parts.runBudgetMs ?? REFRESH_RUN_BUDGET_MS);
    const lookBack = periodSeconds + Math.min(LATE_RUN_SLACK_SECONDS, periodSeconds);
    const due = (await index.due(nowSeconds - lookBack, nowSeconds)).filter(
      (mark) => mark.inUseUntil > nowSeconds,
    );
    const counts: Record<RenewOutcome | 'not_started', number> = {
      renewed: 0,
      current: 0,
      held: 0,
      backoff: 0,
      not_allowed: 0,
      failed: 0,
      not_started: 0,
    };
    const queue: InUseMark[] = [...due];
    const worker = async () => {
      for (let mark = queue.shift(); mark; mark = queue.shift()) {
        if (clock.now() >= until) {
          // Left to the request path (and to the next run, which looks back one period).
          counts.not_started += 1;
          continue;
        }
        try {
          const principal = await this.parts.principals.open(mark.principal);
          // A mark whose principal does not open was not written by this service (or the key was replaced).
          const outcome =
            principal === undefined ? 'not_allowed' : await vendor.renewMarked({ ...mark, principal });
          counts[outcome] += 1;
          if (outcome === 'renewed') {
            renewedByProvider.set(mark.providerId, (renewedByProvider.get(mark.providerId) ?? 0) + 1);
          }
        } catch (error) {
          // One key's failure (its secret unreadable, say) is not the run's: the others are still renewed.
          counts.failed += 1;
          log.warn('refresher could not renew a key; its valid token stays', {
            event: 'refresh_failed',
            provider: mark.providerId,
            error: error instanceof Error ? error.name : 'unknown',
          });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(RENEWALS_AT_ONCE, due.length) }, worker));
    const report = { due: due.length, ...counts };
    log.info('refresher run', { event: 'refresher_run', ...report });
    return report;
  }
}
