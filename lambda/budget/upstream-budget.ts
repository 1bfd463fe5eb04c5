import { createHash } from 'node:crypto';
import type { ProviderConfig } from '../config/provider-schema';
import { VendError } from '../errors';
import { describeError, type Log } from '../logging';
import type { BudgetLedger } from './budget-ledger';

const WINDOW_MS = 60_000;

/** Upstream requests per minute, unless the provider entry says otherwise. */
export const DEFAULT_UPSTREAM_BUDGET = { perCallerPerMinute: 30, perMinute: 120 } as const;

export interface UpstreamBudgetOptions {
  readonly ledger: BudgetLedger;
  /** Counts in this container while the shared ledger fails. */
  readonly fallback: BudgetLedger;
  readonly log: Log;
  readonly now?: () => number;
}

/**
 * What one caller may cost a provider: every request to the provider is charged to the caller whose vend
 * made it, per minute, and to the provider whoever the caller; past either, the caller gets 429 `throttled`
 * with `Retry-After` and the provider is not asked. Providers rate-limit, and some (Auth0) bill every
 * machine-to-machine token: a caller varying its selectors, or evicting and vending in a loop, meets its own
 * budget, and other callers' vends go on.
 */
export class UpstreamBudget {
  private readonly now: () => number;

  constructor(private readonly options: UpstreamBudgetOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Charges one upstream request to `principal` on `provider`, or throws `throttled`. */
  async charge(principal: string, provider: ProviderConfig): Promise<void> {
    const budget = { ...DEFAULT_UPSTREAM_BUDGET, ...provider.upstreamBudget };
    const windowEndsMs = Math.floor(this.now() / WINDOW_MS) * WINDOW_MS + WINDOW_MS;
    const retryAfterSeconds = Math.max(1, Math.ceil((windowEndsMs - this.now()) / 1000));
    // The caller is named by a hash: the table holds no principal ARNs.
    const caller = createHash('sha256').update(principal).digest('base64url').slice(0, 22);
    if (!(await this.spend(`${provider.id}#caller#${caller}`, budget.perCallerPerMinute, windowEndsMs))) {
      throw new VendError(
        'throttled',
        `This caller has made provider "${provider.id}" issue ${budget.perCallerPerMinute} tokens this minute, its limit.`,
        { retryAfterSeconds },
      );
    }
    if (!(await this.spend(`${provider.id}#all`, budget.perMinute, windowEndsMs))) {
      throw new VendError(
        'throttled',
        `Provider "${provider.id}" has been asked for ${budget.perMinute} tokens this minute, its limit.`,
        { retryAfterSeconds },
      );
    }
  }

  private async spend(counter: string, limit: number, windowEndsMs: number): Promise<boolean> {
    try {
      return await this.options.ledger.spend(counter, limit, windowEndsMs);
    } catch (error) {
      this.options.log.warn('cache table budget failed', {
        event: 'cache_table_error',
        operation: 'budget',
        ...describeError(error),
      });
      return this.options.fallback.spend(counter, limit, windowEndsMs);
    }
  }
}
