import type { DependencyBypass } from '../cache/dependency-bypass';
import type { LeaseToll } from '../cache/shared-tier';
import { type Clock, systemClock } from '../clock';
import type { ProviderConfig } from '../config/provider-schema';
import { EVENTS } from '../contracts/metrics';
import type { TableCharge } from '../contracts/token-table';
import { VendError } from '../errors';
import { describeError, type Log } from '../logging';
import { BudgetContended, type BudgetLedger } from './budget-ledger';
import type { CallerCounterNames } from './caller-counter-names';
import { QUOTA_WINDOW_MS, quotaBudget } from './quota-budget';

const WINDOW_MS = 60_000;
/** Where a quota's day counters differ in name from the minute's (`<provider>#day#all`). */
const DAY_PERIOD = 'day#';

/** One counter an upstream request is charged to, and what its caller is told past its limit. */
interface Charge {
  /** The caller's own counter (named by the counter key), or the provider's. */
  readonly caller: boolean;
  readonly period: '' | typeof DAY_PERIOD;
  readonly windowMs: number;
  readonly limit: number;
  readonly refusal: (retryAfterSeconds: number) => VendError;
}

const callerSpent = (provider: ProviderConfig, limit: number, retryAfterSeconds: number) =>
  new VendError(
    'throttled',
    `This caller has made provider "${provider.id}" issue ${limit} tokens this minute, its limit.`,
    { retryAfterSeconds },
  );

const providerSpent = (provider: ProviderConfig, limit: number, retryAfterSeconds: number) =>
  new VendError(
    'throttled',
    `Provider "${provider.id}" has been asked for ${limit} tokens this minute, its limit.`,
    {
      retryAfterSeconds,
    },
  );

const callerDaySpent = (provider: ProviderConfig, limit: number, retryAfterSeconds: number) =>
  new VendError(
    'throttled',
    `This caller has made provider "${provider.id}" issue ${limit} tokens today (UTC), its share of the provider's token quota.`,
    { retryAfterSeconds },
  );

const providerDaySpent = (provider: ProviderConfig, limit: number, retryAfterSeconds: number) =>
  new VendError(
    'throttled',
    `Provider "${provider.id}" has issued ${limit} tokens today (UTC), what its token quota allows a day.`,
    { retryAfterSeconds },
  );

/** Upstream requests and evictions per minute, unless the provider entry says otherwise. */
export const DEFAULT_UPSTREAM_BUDGET = {
  perCallerPerMinute: 30,
  perMinute: 120,
  evictionsPerCallerPerMinute: 10,
} as const;

/** How long a caller is told to wait when the counter key cannot be read for an evict. */
const COUNTER_KEY_RETRY_AFTER_SECONDS = 5;

export interface UpstreamBudgetOptions {
  readonly ledger: BudgetLedger;
  /** Counts in this container while the shared ledger fails, or the counter key cannot be read. */
  readonly fallback: BudgetLedger;
  /** Names callers in the shared counters by an HMAC of their principal. */
  readonly names: CallerCounterNames;
  readonly log: Log;
  /** The table's bypass window, shared with the token tier: a hung table costs one timeout per window. */
  readonly bypass: DependencyBypass;
  readonly clock?: Clock;
  /** The deployment's regions: each counts its own budgets, so each takes its share of a quota. @default 1 */
  readonly regions?: number;
}

/**
 * What one caller may cost a provider: every request to the provider is charged to the caller whose vend
 * made it (or, after an eviction, to the caller that evicted), per minute, and to the provider whoever the
 * caller; past either, the caller gets 429 `throttled` with `Retry-After` and the provider is not asked.
 * Providers rate-limit, and some (Auth0) bill every machine-to-machine token: a caller varying its
 * selectors, or evicting and vending in a loop, meets its own budget, and other callers' vends go on.
 */
export class UpstreamBudget {
  private readonly clock: Clock;

  constructor(private readonly options: UpstreamBudgetOptions) {
    this.clock = options.clock ?? systemClock;
  }

  private now(): number {
    return this.clock.now();
  }

  /**
   * Charges one upstream request on `provider` to `principal`, or throws `throttled`. `prepaid`: the request
   * renews a token an evict removed, and that evict already paid this caller's share.
   */
  async charge(principal: string, provider: ProviderConfig, payment: 'charged' | 'prepaid'): Promise<void> {
    for (const charge of this.chargesOf(provider, payment)) {
      const { endsMs, retryAfterSeconds } = this.window(charge.windowMs);
      const spent = charge.caller
        ? await this.spendAsCaller(principal, provider, charge.limit, charge.windowMs)
        : await this.spend(`${provider.id}#${charge.period}all`, charge.limit, endsMs);
      if (!spent) throw charge.refusal(retryAfterSeconds);
    }
  }

  /**
   * What one upstream request costs, in the order it is charged: the caller's minute (unless an evict
   * prepaid it) and the provider's; with a `tokenQuota` ({@link quotaBudget}) also the caller's share of the
   * quota's day and the provider's day — past either, `throttled` until the UTC day turns, however the
   * caller asks (a `min_ttl` that only a new token meets included). {@link charge} spends them one by one,
   * {@link toll} as the lease's transaction: one list, so the two cannot charge differently.
   */
  private chargesOf(provider: ProviderConfig, payment: 'charged' | 'prepaid'): Charge[] {
    const budget = this.budgetOf(provider);
    const charges: Charge[] = [];
    if (payment === 'charged') {
      charges.push({
        caller: true,
        period: '',
        windowMs: WINDOW_MS,
        limit: budget.perCallerPerMinute,
        refusal: (after) => callerSpent(provider, budget.perCallerPerMinute, after),
      });
    }
    charges.push({
      caller: false,
      period: '',
      windowMs: WINDOW_MS,
      limit: budget.perMinute,
      refusal: (after) => providerSpent(provider, budget.perMinute, after),
    });
    const quota = quotaBudget(provider, this.options.regions);
    if (!quota) return charges;
    if (payment === 'charged') {
      charges.push({
        caller: true,
        period: DAY_PERIOD,
        windowMs: QUOTA_WINDOW_MS,
        limit: quota.perCallerPerDay,
        refusal: (after) => callerDaySpent(provider, quota.perCallerPerDay, after),
      });
    }
    charges.push({
      caller: false,
      period: DAY_PERIOD,
      windowMs: QUOTA_WINDOW_MS,
      limit: quota.perDay,
      refusal: (after) => providerDaySpent(provider, quota.perDay, after),
    });
    return charges;
  }

  /**
   * The same charges as writes the key's lease carries in its transaction (see {@link LeaseToll}), each
   * conditional on its limit, so a lease is taken only with every spend and none is spent without the lease.
   * Undefined when the ledger is not the table's; no writes while the table is left alone, the counter key
   * cannot be read, or a limit is nothing (a counter's first write of a window passes any limit): the holder
   * is then charged by {@link charge}, which counts in this container or refuses.
   */
  toll(principal: string, provider: ProviderConfig): LeaseToll | undefined {
    const { ledger, bypass, names } = this.options;
    const spendWrite = ledger.spendWrite?.bind(ledger);
    if (!spendWrite) return undefined;
    return {
      charges: async (paidBy) => {
        if (bypass.tableBypassed()) return undefined;
        const charges = this.chargesOf(provider, paidBy === undefined ? 'charged' : 'prepaid');
        if (charges.some((charge) => charge.limit < 1)) return undefined;
        let caller: string | undefined;
        if (charges.some((charge) => charge.caller)) {
          try {
            caller = await names.of(principal);
          } catch {
            return undefined;
          }
        }
        return charges.map((charge): TableCharge => {
          const { endsMs, retryAfterSeconds } = this.window(charge.windowMs);
          const whose = charge.caller ? `caller#${caller}` : 'all';
          const write = spendWrite(`${provider.id}#${charge.period}${whose}`, charge.limit, endsMs);
          return {
            update: write.update,
            refusal: (item) => (write.spent(item) ? charge.refusal(retryAfterSeconds) : undefined),
          };
        });
      },
    };
  }

  /**
   * The caller's name in the shared counters, which an evicted item records; `service_unavailable` when the
   * counter key cannot be read (an evict must be charged where every container sees it).
   */
  async counterName(principal: string): Promise<string> {
    try {
      return await this.options.names.of(principal);
    } catch (error) {
      this.counterKeyUnavailable(error);
      throw new VendError(
        'service_unavailable',
        'Evictions are paused: the service cannot charge them right now.',
        {
          retryAfterSeconds: COUNTER_KEY_RETRY_AFTER_SECONDS,
        },
      );
    }
  }

  /**
   * Charges an eviction to the caller (by {@link counterName}) that made it: one of its evictions this
   * minute, and the upstream request the eviction will cause, paid now so that whoever vends next does not
   * pay for it. Throws `throttled` past either.
   */
  async chargeEviction(caller: string, provider: ProviderConfig): Promise<void> {
    const budget = this.budgetOf(provider);
    const { endsMs, retryAfterSeconds } = this.window();
    const evictions = budget.evictionsPerCallerPerMinute;
    if (!(await this.spend(`${provider.id}#evict#${caller}`, evictions, endsMs))) {
      throw new VendError(
        'throttled',
        `This caller has evicted ${evictions} tokens of provider "${provider.id}" this minute, its limit.`,
        { retryAfterSeconds },
      );
    }
    if (!(await this.spend(`${provider.id}#caller#${caller}`, budget.perCallerPerMinute, endsMs))) {
      throw new VendError(
        'throttled',
        `This caller has made provider "${provider.id}" issue ${budget.perCallerPerMinute} tokens this minute, its limit; an eviction would make it issue another.`,
        { retryAfterSeconds },
      );
    }
    // The renewal the eviction causes is prepaid: its share of a quota's day is paid here too.
    const quota = quotaBudget(provider, this.options.regions);
    if (quota) {
      const day = this.window(QUOTA_WINDOW_MS);
      if (
        !(await this.spend(`${provider.id}#${DAY_PERIOD}caller#${caller}`, quota.perCallerPerDay, day.endsMs))
      ) {
        throw new VendError(
          'throttled',
          `This caller has made provider "${provider.id}" issue ${quota.perCallerPerDay} tokens today (UTC), its share of the provider's token quota; an eviction would make it issue another.`,
          { retryAfterSeconds: day.retryAfterSeconds },
        );
      }
    }
  }

  private budgetOf(provider: ProviderConfig) {
    return { ...DEFAULT_UPSTREAM_BUDGET, ...provider.upstreamBudget };
  }

  private window(lengthMs = WINDOW_MS): { endsMs: number; retryAfterSeconds: number } {
    const endsMs = Math.floor(this.now() / lengthMs) * lengthMs + lengthMs;
    return { endsMs, retryAfterSeconds: Math.max(1, Math.ceil((endsMs - this.now()) / 1000)) };
  }

  /**
   * Spends on the caller's own counter, named by an HMAC of its principal. Without the counter key the
   * caller is counted in this container alone, by principal: that counter never leaves the process.
   */
  private async spendAsCaller(
    principal: string,
    provider: ProviderConfig,
    limit: number,
    windowMs = WINDOW_MS,
  ): Promise<boolean> {
    const { endsMs } = this.window(windowMs);
    // A quota's day counters have names of their own: a day ends on a minute's end too.
    const period = windowMs === WINDOW_MS ? '' : DAY_PERIOD;
    let caller: string;
    try {
      caller = await this.options.names.of(principal);
    } catch (error) {
      this.counterKeyUnavailable(error);
      return this.options.fallback.spend(`${provider.id}#${period}caller-local#${principal}`, limit, endsMs);
    }
    return this.spend(`${provider.id}#${period}caller#${caller}`, limit, endsMs);
  }

  private counterKeyUnavailable(error: unknown): void {
    this.options.log.warn('the counter key cannot be read; budgets are counted in this container', {
      event: EVENTS.counterKeyUnavailable,
      ...describeError(error),
    });
  }

  private async spend(counter: string, limit: number, windowEndsMs: number): Promise<boolean> {
    // A ledger's first spend of a window would pass any limit: a budget of nothing is refused here.
    if (limit < 1) return false;
    if (this.options.bypass.tableBypassed()) return this.options.fallback.spend(counter, limit, windowEndsMs);
    try {
      return await this.options.ledger.spend(counter, limit, windowEndsMs);
    } catch (error) {
      // Busy, not failing: the table's count stands, and this container must not start one of its own.
      if (error instanceof BudgetContended) {
        throw new VendError(
          'throttled',
          'Many requests are charging this budget at once; ask again in a moment.',
          { retryAfterSeconds: 1 },
        );
      }
      this.options.bypass.failed('budget', error);
      return this.options.fallback.spend(counter, limit, windowEndsMs);
    }
  }
}
