import { type ProviderSummary, tokenFingerprint } from '../packages/client/src/wire-contract';
import { type BudgetLedger, InProcessBudgetLedger } from './budget/budget-ledger';
import { CallerCounterNames, type CounterKeySource, RandomCounterKey } from './budget/caller-counter-names';
import { UpstreamBudget } from './budget/upstream-budget';
import { DependencyBypass } from './cache/dependency-bypass';
import type { SharedTier } from './cache/shared-tier';
import type { TokenStore } from './cache/token-store';
import { type Clock, clockOf } from './clock';
import type { ProviderConfig } from './config/provider-schema';
import type { CredentialSource } from './credentials/client-credentials';
import { VendError } from './errors';
import { KnownLifetimes, minTtlError } from './known-lifetimes';
import { LeasedFetch } from './leased-fetch';
import type { Log } from './logging';
import { type TokenClient, UPSTREAM_BUDGET_MS } from './oauth/token-client';
import { SingleFlight } from './single-flight';
import { UpstreamGrant } from './upstream-grant';
import { RequestPolicy, type VendContext } from './vend-context';
import type { VendOutcome } from './vend-outcome';
import type { EvictRequest, VendRequest } from './vend-request';

export type { CacheOutcome, VendOutcome } from './vend-outcome';

const lifetimeOf = (seconds: number | undefined) =>
  seconds === undefined ? {} : { tokenLifetimeSeconds: seconds };

/** A token younger than this is not evicted: it was just issued, and evicting it would only ask again. */
export const EVICT_FLOOR_SECONDS = 15;

/** What an evict did: evicted the token; found none; found another token than the one named; or left a token too young. */
export type EvictOutcome = 'evicted' | 'absent' | 'not_current' | 'too_young';

export interface TokenVendorOptions {
  readonly providers: readonly ProviderConfig[];
  readonly credentials: CredentialSource;
  readonly tokenClient: TokenClient;
  /** Per container. */
  readonly memory: TokenStore;
  /** Token and lease of each key, shared by all containers (or this one's alone). */
  readonly tier: SharedTier;
  readonly log: Log;
  readonly now?: () => number;
  /** Time and waiting. @default the system clock, or one reading `now` */
  readonly clock?: Clock;
  /** When the table is left alone; shared with the tier. @default a window of this vendor's own */
  readonly bypass?: DependencyBypass;
  /**
   * How long a caller may wait for another instance's fetch before giving up; also the longest lease.
   * @default 12000 (one upstream budget and 2 s for the table)
   */
  readonly waitBudgetMs?: number;
  /** @default EVICT_FLOOR_SECONDS */
  readonly evictFloorSeconds?: number;
  /** Where upstream budgets are counted across containers. @default this container alone */
  readonly budgetLedger?: BudgetLedger;
  /** The key that names callers in the budget counters. @default a random key of this process */
  readonly counterKey?: CounterKeySource;
}

/**
 * A vend, in order: request policy → this container's memory → the shared tier → one leased fetch per key.
 * Knows nothing of HTTP.
 */
export class TokenVendor {
  private readonly policy: RequestPolicy;
  private readonly lifetimes = new KnownLifetimes();
  private readonly flights = new SingleFlight<VendOutcome>();
  private readonly leasedFetch: LeasedFetch;
  private readonly budget: UpstreamBudget;
  private readonly now: () => number;

  constructor(private readonly options: TokenVendorOptions) {
    const clock = options.clock ?? clockOf(options.now);
    this.now = () => clock.now();
    this.policy = new RequestPolicy(options.providers, options.credentials);
    const { credentials, tokenClient, tier, memory, log } = options;
    const budget = new UpstreamBudget({
      ledger: options.budgetLedger ?? new InProcessBudgetLedger(),
      fallback: new InProcessBudgetLedger(),
      names: new CallerCounterNames(options.counterKey ?? new RandomCounterKey()),
      log,
      bypass: options.bypass ?? new DependencyBypass({ log, clock }),
      clock,
    });
    this.budget = budget;
    const grant = new UpstreamGrant({
      credentials,
      tokenClient,
      tier,
      memory,
      lifetimes: this.lifetimes,
      budget,
      now: this.now,
    });
    this.leasedFetch = new LeasedFetch({
      tier,
      memory,
      grant,
      lifetimes: this.lifetimes,
      log,
      clock,
      waitBudgetMs: options.waitBudgetMs ?? UPSTREAM_BUDGET_MS + 2000,
    });
  }

  /** What this caller may vend: its own scopes and audiences, never a secret id or an endpoint. */
  listProviders(principal: string | undefined): ProviderSummary[] {
    return this.policy.allowedProviders(principal).map(({ provider, grant }) => ({
      id: provider.id,
      ...(provider.description === undefined ? {} : { description: provider.description }),
      ...(grant.defaultAudience === undefined ? {} : { defaultAudience: grant.defaultAudience }),
      allowedAudiences: grant.audiences,
      defaultScopes: grant.defaultScopes,
      allowedScopes: grant.scopes,
      ...lifetimeOf(this.lifetimes.ofProvider(provider.id)),
    }));
  }

  async vend(principal: string | undefined, providerId: string, request: VendRequest): Promise<VendOutcome> {
    const context = await this.policy.contextFor(principal, providerId, request);
    this.lifetimes.assertCanMeet(context);
    const { freshness, key } = context;
    const remembered = await this.options.memory.get(key);
    const nowSeconds = this.now() / 1000;
    if (
      remembered &&
      freshness.isFresh(remembered, nowSeconds) &&
      !freshness.isRefreshDue(remembered, nowSeconds)
    ) {
      return { token: remembered, cache: 'memory', selectors: context.selectors };
    }
    // Callers with the same key and the same demand share one table read and one upstream request.
    const outcome = await this.flights.run(`${key}#${request.minTtlSeconds ?? ''}`, (publish) =>
      this.leasedFetch.resolve(context, remembered, publish),
    );
    if (!freshness.isUsable(outcome.token, this.now() / 1000)) throw this.unusable(context, outcome);
    return { ...outcome, selectors: context.selectors };
  }

  /**
   * Evicts the token the caller saw rejected — only that one (by fingerprint), only if it is still the
   * cached one, and only once it is older than {@link EVICT_FLOOR_SECONDS}: a thousand callers that saw one
   * token rejected cause one renewal, and a caller cannot make the service ask the provider at will. An
   * eviction is charged to its caller (one of its evictions this minute, and the renewal it causes), so a
   * caller cannot spend another's budget by evicting a token they share. The key's lease and backoff stay.
   *
   * This container's memory copy of the named token goes whatever the table holds, and so does a copy the
   * table has moved past: serving either on would hand out a token that is no longer the cached one.
   */
  async evict(
    principal: string | undefined,
    providerId: string,
    request: EvictRequest,
  ): Promise<EvictOutcome> {
    const { key, provider } = await this.policy.contextFor(principal, providerId, request);
    const named = (token: { accessToken: string } | undefined) =>
      token !== undefined && tokenFingerprint(token.accessToken) === request.tokenFingerprint;
    const remembered = await this.options.memory.get(key);
    if (named(remembered)) await this.options.memory.delete(key);
    const item = await this.options.tier.read(key);
    // A memory copy the table has moved past is as stale as the named one: it goes too.
    if (remembered && item?.token && item.token.accessToken !== remembered.accessToken) {
      await this.options.memory.delete(key);
    }
    const token = item?.token ?? remembered;
    if (!token) return 'absent';
    if (!named(token)) return 'not_current';
    if (this.now() / 1000 - token.issuedAt < (this.options.evictFloorSeconds ?? EVICT_FLOOR_SECONDS)) {
      return 'too_young';
    }
    if (!item?.version) return 'evicted';
    const evictedBy = await this.budget.counterName(principal as string);
    // Of many callers evicting one token at once, only the one whose conditional evict applies is charged.
    if (!(await this.options.tier.evict(key, item.version, evictedBy))) return 'not_current';
    try {
      await this.budget.chargeEviction(evictedBy, provider);
    } catch (error) {
      // Over its budget: the token goes back (a new version, no payment on it) and the caller is refused.
      await this.options.tier.store(key, token, provider.id);
      throw error;
    }
    return 'evicted';
  }

  /** A token that cannot serve this caller: too short for its min_ttl, or too short to be of use at all. */
  private unusable(context: VendContext, outcome: VendOutcome): VendError {
    const lifetime = outcome.token.expiresAt - outcome.token.issuedAt;
    if (context.minTtlSeconds !== undefined) return minTtlError(context, lifetime);
    const left = Math.floor(outcome.token.expiresAt - this.now() / 1000);
    return new VendError(
      'upstream_invalid_response',
      `Provider "${context.provider.id}" issued a token valid for ${lifetime} s that had ${left} s left when it arrived.`,
    );
  }
}
