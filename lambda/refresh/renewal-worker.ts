import type { SealedPrincipals } from '../budget/caller-counter-names';
import type { Clock } from '../clock';
import type { Log } from '../logging';
import type { RenewAnswer, RenewOutcome, TokenVendor } from '../token-vendor';
import { type InUseMark, markFields } from './in-use-index';
import type { MarkAuthenticator } from './mark-authenticator';
import {
  MAX_RENEWAL_DELAY_SECONDS,
  type RenewalConsumer,
  type RenewalVerdict,
  renewalOf,
} from './renewal-queue';

/** Renewals one invocation makes at once: a provider sees at most this many of one invocation's requests. */
export const RENEWALS_AT_ONCE = 8;
/**
 * No renewal starts with less than this left of the invocation: one upstream exchange (10 s) and its
 * table writes fit, so the invocation ends before Lambda's timeout and its metrics are published.
 */
export const RENEWAL_RESERVE_MS = 13_000;
/**
 * A key whose lease another holder has is tried again this much later: by then the holder's token is in
 * the table (the retry finds it current) or its lease has run out (a dead holder: the retry renews).
 */
export const HELD_RETRY_SECONDS = 15;
/**
 * A renewal that failed is tried again this much later (a message's own visibility, shorter than the
 * queue's): three failures in a row start the provider's backoff, as on the request path, well before the
 * token's margin; a third failed delivery makes the message a dead letter.
 */
export const FAILED_RETRY_SECONDS = 10;
/** How early a renewal may be delivered and still be renewed (SQS delays are whole seconds; clocks differ). */
export const EARLY_DELIVERY_SLACK_SECONDS = 5;

export type RenewalCount = RenewOutcome | 'rejected' | 'not_started';
export type RenewalCounts = Record<RenewalCount, number>;

export const noRenewals = (): RenewalCounts => ({
  renewed: 0,
  current: 0,
  held: 0,
  backoff: 0,
  not_allowed: 0,
  failed: 0,
  rejected: 0,
  not_started: 0,
});

/** What one batch of renewals did, for its metrics. */
export interface RenewalBatch {
  readonly counts: RenewalCounts;
  /** Renewals that minted a token, by provider id: the quota alarms count them as any fetch's. */
  readonly renewedByProvider: ReadonlyMap<string, number>;
}

export interface RenewalWorkerParts {
  readonly vendor: Pick<TokenVendor, 'renewMarked'>;
  /** Opens the sealed principal of each mark. */
  readonly principals: SealedPrincipals;
  readonly marks: MarkAuthenticator;
  readonly clock: Clock;
  readonly log: Log;
  /** Told of every batch as it ends. @default none */
  readonly metrics?: { renewalBatch(batch: RenewalBatch): void };
}

/**
 * Renews the keys the renewal queue delivers, each under its lease and its marking caller's budget
 * (`TokenVendor.renewMarked`), and tells the queue what to do with each message: a renewal done, found
 * done, not allowed or refused as unauthenticated is deleted; a key someone else holds is tried again after
 * the lease, one whose provider backs off at the provider's time, a failure {@link FAILED_RETRY_SECONDS}
 * later (after three deliveries it is a dead letter, which alarms).
 */
export class RenewalWorker implements RenewalConsumer {
  constructor(private readonly parts: RenewalWorkerParts) {}

  async renewBatch(
    bodies: readonly string[],
    options: { readonly remainingMs?: () => number } = {},
  ): Promise<RenewalVerdict[]> {
    const { verdicts, batch } = await this.renewCounted(bodies, options);
    this.parts.metrics?.renewalBatch(batch);
    return verdicts;
  }

  /** The batch's verdicts and what it did, published by the caller (a run in process adds it to its own). */
  async renewCounted(
    bodies: readonly string[],
    options: { readonly remainingMs?: () => number } = {},
  ): Promise<{ verdicts: RenewalVerdict[]; batch: RenewalBatch }> {
    const counts = noRenewals();
    const renewedByProvider = new Map<string, number>();
    const verdicts: RenewalVerdict[] = new Array(bodies.length);
    let next = 0;
    const worker = async () => {
      for (let at = next++; at < bodies.length; at = next++) {
        if ((options.remainingMs?.() ?? Number.POSITIVE_INFINITY) < RENEWAL_RESERVE_MS) {
          // Not started: delivered again at once, to an invocation with the time for it.
          counts.not_started += 1;
          verdicts[at] = { kind: 'retry', afterSeconds: 0 };
          continue;
        }
        const { count, verdict, mark } = await this.renewOne(bodies[at] as string);
        counts[count] += 1;
        if (count === 'renewed' && mark) {
          renewedByProvider.set(mark.providerId, (renewedByProvider.get(mark.providerId) ?? 0) + 1);
        }
        verdicts[at] = verdict;
      }
    };
    await Promise.all(Array.from({ length: Math.min(RENEWALS_AT_ONCE, bodies.length) }, worker));
    return { verdicts, batch: { counts, renewedByProvider } };
  }

  private async renewOne(
    body: string,
  ): Promise<{ count: RenewalCount; verdict: RenewalVerdict; mark?: InUseMark }> {
    const { log, marks, principals, vendor } = this.parts;
    const mark = renewalOf(body);
    if (!mark) return this.rejected('malformed');
    try {
      if (!(await marks.verify(markFields(mark), mark.tag))) return this.rejected('unverified', mark);
      // A genuine mark delivered well before its time (a copy sent to the queue early) waits for its time:
      // renewing it now would ask the provider a lifetime early, charged to the caller that marked it.
      const early = mark.renewAt - Math.floor(this.parts.clock.now() / 1000);
      if (early > EARLY_DELIVERY_SLACK_SECONDS) {
        return {
          count: 'current',
          verdict: { kind: 'retry', afterSeconds: Math.min(early, MAX_RENEWAL_DELAY_SECONDS) },
          mark,
        };
      }
      const principal = await principals.open(mark.principal);
      // Authenticated but its principal does not open: the counter key was replaced since the mark.
      if (principal === undefined) return { count: 'not_allowed', verdict: { kind: 'done' }, mark };
      const answer = await vendor.renewMarked({ ...mark, principal });
      return { count: answer.outcome, verdict: this.verdictOf(answer, mark), mark };
    } catch (error) {
      // One key's failure (its secret, the table, the key service) is not the batch's: the others go on.
      log.warn('refresher could not renew a key; its valid token stays', {
        event: 'refresh_failed',
        provider: mark.providerId,
        error: error instanceof Error ? error.name : 'unknown',
      });
      return { count: 'failed', verdict: { kind: 'retry', afterSeconds: FAILED_RETRY_SECONDS }, mark };
    }
  }

  private verdictOf(answer: RenewAnswer, mark: InUseMark): RenewalVerdict {
    const nowSeconds = Math.floor(this.parts.clock.now() / 1000);
    switch (answer.outcome) {
      case 'held':
        return { kind: 'retry', afterSeconds: HELD_RETRY_SECONDS };
      case 'backoff': {
        const at = Math.ceil((answer.retryAtMs ?? 0) / 1000);
        // Past the marked token's expiry there is nothing left to renew ahead of: the request path has it.
        return at < mark.expiresAt
          ? { kind: 'retry', afterSeconds: Math.max(1, at - nowSeconds) }
          : { kind: 'done' };
      }
      case 'failed':
        return { kind: 'retry', afterSeconds: FAILED_RETRY_SECONDS };
      default:
        return { kind: 'done' };
    }
  }

  private rejected(
    reason: 'malformed' | 'unverified',
    mark?: InUseMark,
  ): { count: RenewalCount; verdict: RenewalVerdict } {
    this.parts.log.warn('an in-use mark did not verify; it is not renewed', {
      event: 'in_use_mark_rejected',
      reason,
      // The provider only of a mark that parsed: nothing else of an unauthenticated entry reaches a log.
      ...(mark ? { provider: mark.providerId.slice(0, 64) } : {}),
    });
    return { count: 'rejected', verdict: { kind: 'done' } };
  }
}
