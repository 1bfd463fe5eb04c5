import {
  type EvictOutcome,
  type ProviderSummary,
  tokenFingerprint,
} from '../packages/client/src/wire-contract';
import type { UpstreamBudget } from './budget/upstream-budget';
import {
  type EvictClaim,
  type EvictedToken,
  type PeerToken,
  type SharedTier,
  SharedTierUnavailable,
  type TierItem,
} from './cache/shared-tier';
import type { TokenStore } from './cache/token-store';
import type { Clock } from './clock';
import { type ErrorCode, VendError } from './errors';
import { type KnownLifetimes, minTtlError } from './known-lifetimes';
import {
  type HeldLease,
  type KeyLease,
  LeaseAbandoned,
  type LeaseAnswer,
  type LeaseWork,
  MAX_LEASE_ROUNDS,
} from './lease/key-lease';
import { MAX_BACKOFF_MS } from './lease/lease-rule';
import { ProviderBackingOff, type ProviderBackoff } from './lease/provider-backoff';
import type { Log } from './logging';
import type { CachedToken, EvictRequest, VendRequest } from './model';
import type { InUseMark } from './refresh/in-use-index';
import type { InUseMarker } from './refresh/in-use-marker';
import { SingleFlight } from './single-flight';
import type { UpstreamGrant } from './upstream-grant';
import type { RequestPolicy, VendContext } from './vend-context';
import type { CacheOutcome, VendOutcome } from './vend-outcome';

export type { CacheOutcome, VendOutcome } from './vend-outcome';

/** A token younger than this is not evicted: it was just issued, and evicting it would only ask again. */
export const EVICT_FLOOR_SECONDS = 15;

/** What an evict did: the wire contract's outcomes, which the evict's 204 reports. */
export type { EvictOutcome };

/**
 * What a refresher's renewal of a marked key did: renewed it; found it renewed since (or gone); found
 * someone else renewing it, or the provider backing off; no longer vendable as marked; or failed.
 */
export type RenewOutcome = 'renewed' | 'current' | 'held' | 'backoff' | 'not_allowed' | 'failed';

/** A renewal's outcome, and when the provider may be asked again if it is backing off (epoch ms). */
export interface RenewAnswer {
  readonly outcome: RenewOutcome;
  readonly retryAtMs?: number;
}

/** The vendor's collaborators, built by `compose.ts`. */
export interface TokenVendorParts {
  readonly policy: RequestPolicy;
  /** Per container. */
  readonly memory: TokenStore;
  /** Token and lease of each key, shared by all containers (or this one's alone). */
  readonly tier: SharedTier;
  /** One fetch per key across containers, over `tier`. */
  readonly lease: KeyLease;
  readonly grant: UpstreamGrant;
  readonly budget: UpstreamBudget;
  readonly lifetimes: KnownLifetimes;
  readonly log: Log;
  readonly clock: Clock;
  /** How long a caller may wait for another instance's fetch; also the longest lease. */
  readonly waitBudgetMs: number;
  readonly evictFloorSeconds: number;
  /** Marks the keys callers use, for the refresher. @default none: renewal on the request path only */
  readonly inUse?: InUseMarker;
  /** Backoff per provider, across keys and containers: asked before each grant. @default none */
  readonly backoff?: ProviderBackoff;
  /** Gets the data key that seals a provider's next token ready while its grant runs. @default none */
  readonly prepareSeal?: (providerId: string) => void;
}

/** Errors after which a cached token that still meets the caller's min_ttl is served instead. */
const SERVE_WHILE_VALID: ReadonlySet<ErrorCode> = new Set([
  'upstream_rejected',
  'upstream_invalid_response',
  'upstream_unavailable',
  'upstream_timeout',
  'service_unavailable',
  'throttled',
]);

/** Pause before asking for the lease again after the token changed under a caller it could not serve. */
const SUPERSEDED_PAUSE_MS = 25;

/** What the caller had before asking for the lease: the best cached token, and where it came from. */
interface Cached {
  readonly token?: CachedToken;
  readonly source: CacheOutcome;
  /** The region whose item the table's token came from, when not this one's. */
  readonly peerRegion?: string;
}

const fromRegion = (peerRegion: string | undefined) => (peerRegion === undefined ? {} : { peerRegion });

/**
 * A vend, decided here and only here, in order (as Duende's `GetAccessTokenAsync`): request policy → this
 * container's memory → the shared tier's token → one leased fetch per key → serving a still-valid token
 * when the provider fails. The lease, the tiers and the grant only carry out what is decided here: they
 * know nothing of freshness or lifetimes; memory and the known lifetimes are written from this file alone.
 * Knows nothing of HTTP.
 */
export class TokenVendor {
  private readonly flights = new SingleFlight<VendOutcome>();
  /** The in-use mark of a token this container fetched, begun beside the token's write (see `fetchWork`). */
  private readonly marking = new WeakMap<CachedToken, Promise<void>>();

  constructor(private readonly parts: TokenVendorParts) {}

  /** What this caller may vend: its own scopes and audiences, never a secret id or an endpoint. */
  listProviders(principal: string | undefined): ProviderSummary[] {
    return this.parts.policy.allowedProviders(principal).map(({ provider, grant }) => {
      const lifetime = this.parts.lifetimes.ofProvider(provider.id);
      return {
        id: provider.id,
        ...(provider.description === undefined ? {} : { description: provider.description }),
        ...(grant.defaultAudience === undefined ? {} : { defaultAudience: grant.defaultAudience }),
        allowedAudiences: grant.audiences,
        defaultScopes: grant.defaultScopes,
        allowedScopes: grant.scopes,
        ...(lifetime === undefined ? {} : { tokenLifetimeSeconds: lifetime }),
      };
    });
  }

  async vend(principal: string | undefined, providerId: string, request: VendRequest): Promise<VendOutcome> {
    // 1. Policy: who may ask what, and under which key.
    const context = await this.parts.policy.contextFor(principal, providerId, request);
    this.parts.lifetimes.assertCanMeet(context);
    // 2. This container's memory.
    const remembered = await this.parts.memory.get(context.key);
    if (remembered && this.servesAsIs(context, remembered)) {
      return { token: remembered, cache: 'memory', selectors: context.selectors };
    }
    // 3. The shared tier, then the lease: callers with the same key and demand share one of each.
    const outcome = await this.flights.run(`${context.key}#${request.minTtlSeconds ?? ''}`, (publish) =>
      this.fromTier(context, remembered, publish),
    );
    if (!context.freshness.isUsable(outcome.token, this.nowSeconds())) throw this.unusable(context, outcome);
    await (this.marking.get(outcome.token) ?? this.parts.inUse?.vended(context, outcome.token));
    return { ...outcome, selectors: context.selectors };
  }

  /**
   * Renews a key a caller marked in use, ahead of the request path, under the key's lease and the marking
   * caller's budget: a key someone else is renewing, or whose provider is backing off, is left alone; a
   * failure is recorded on the lease (the backoff) and the valid token stays. The renewed token is not put
   * in this container's memory: the next vend here reads it from the table, and that marks it in use.
   */
  async renewMarked(mark: InUseMark): Promise<RenewAnswer> {
    let context: VendContext;
    try {
      context = await this.parts.policy.contextFor(mark.principal, mark.providerId, {
        scopes: mark.scopes,
        ...(mark.audience === undefined ? {} : { audience: mark.audience }),
      });
    } catch (error) {
      if (error instanceof VendError) return { outcome: 'not_allowed' };
      throw error;
    }
    // The providers file or the client id changed since the mark: the key is no longer this one.
    if (context.key !== mark.key) return { outcome: 'not_allowed' };
    const item = await this.parts.tier.read(mark.key);
    // No token (expired or evicted: the next caller's miss renews it), or another one than marked. Another
    // region's token is renewed here too, under this region's lease: each region renews what its callers use.
    const unversioned = !item?.version && !item?.peer;
    if (!item?.token || unversioned || item.token.expiresAt !== mark.expiresAt) return { outcome: 'current' };
    try {
      const work = this.fetchWork(context, 'refresh', () => undefined, { remember: false });
      const answer = await this.parts.lease.ifFree(mark.key, item.version, work, this.leaseMs(context));
      if (answer.kind === 'done') return { outcome: 'renewed' };
      if (answer.kind === 'held') return { outcome: 'held' };
      if (answer.kind === 'backoff') return { outcome: 'backoff', retryAtMs: answer.retryAtMs };
      // The lease's own write failed (the table, or sealing the token): not renewed, and said so.
      if (answer.kind === 'failed') return { outcome: 'failed' };
      return { outcome: 'current' };
    } catch (error) {
      if (error instanceof ProviderBackingOff) {
        const { retryAtMs } = error.details;
        return retryAtMs === undefined ? { outcome: 'backoff' } : { outcome: 'backoff', retryAtMs };
      }
      this.parts.log.warn('refresher could not renew a key; its valid token stays', {
        event: 'refresh_failed',
        provider: context.provider.id,
        upstream_failure: error instanceof VendError ? error.code : 'internal_error',
      });
      return { outcome: 'failed' };
    }
  }

  /**
   * Evicts the token the caller saw rejected — only that one (by fingerprint), only if it is still the
   * cached one, and only once it is older than {@link EVICT_FLOOR_SECONDS}: a thousand callers that saw one
   * token rejected cause one renewal, and a caller cannot make the service ask the provider at will. An
   * eviction is charged to its caller (one of its evictions this minute, and the renewal it causes), so a
   * caller cannot spend another's budget by evicting a token they share. The token is claimed first, the
   * caller charged, and only then is it evicted: a refused charge leaves it cached, and no renewal is ever
   * prepaid by an evict nobody paid for. The key's lease and backoff stay.
   *
   * This container's memory copy of the named token goes whatever the table holds, and so does a copy the
   * table has moved past: serving either on would hand out a token that is no longer the cached one. What
   * the evict answers is the shared table's: a token only this container holds is not evicted anywhere (its
   * copy goes, the answer is `not_current`), and a table that cannot be read or written answers 503
   * `service_unavailable` (the copies here go all the same; nothing is evicted there).
   */
  async evict(
    principal: string | undefined,
    providerId: string,
    request: EvictRequest,
  ): Promise<EvictOutcome> {
    const { memory, tier, budget } = this.parts;
    const { key, provider } = await this.parts.policy.contextFor(principal, providerId, request);
    const named = (token: { accessToken: string } | undefined) =>
      token !== undefined && tokenFingerprint(token.accessToken) === request.tokenFingerprint;
    const remembered = await memory.get(key);
    if (named(remembered)) await memory.delete(key);
    const item = await tier.read(key);
    if (item?.standIn) {
      // The table could not be read: what it holds, so what an evict would do there, is unknown. This
      // container's own copy of the named token goes (the tier drops it and says the table did not answer).
      if (item.token && item.version && named(item.token)) {
        const { issuedAt, expiresAt } = item.token;
        const evictedBy = await budget.counterName(principal as string);
        const claim = await this.claimInTier(key, { version: item.version, issuedAt, expiresAt }, evictedBy);
        if (claim) await tier.withdrawEvict(claim);
      }
      throw tableUnavailable(item.standIn.retryAtMs, this.parts.clock.now());
    }
    // A memory copy the table has moved past is as stale as the named one: it goes too.
    if (remembered && item?.token && item.token.accessToken !== remembered.accessToken) {
      await memory.delete(key);
    }
    const token = item?.token ?? remembered;
    if (!token) return 'absent';
    if (!named(token)) return 'not_current';
    if (this.nowSeconds() - token.issuedAt < this.parts.evictFloorSeconds) return 'too_young';
    // Another region's token is evicted in this region only: its item is that region's to write. A token
    // the read did not show (memory's copy only) names no peer: the tier evicts the own item's token only if
    // it is that one (the same issuedAt), never another in its place.
    const peer = item?.token === token ? item.peer : undefined;
    const version = peer?.version ?? item?.version;
    // Only this container's memory held it: the table holds no token it could evict.
    if (!version) return 'not_current';
    const evictedBy = await budget.counterName(principal as string);
    const evicted = {
      version,
      issuedAt: token.issuedAt,
      expiresAt: token.expiresAt,
      ...(peer ? { region: peer.region } : {}),
    };
    // Of many callers evicting one token at once, only the one whose conditional claim applies is charged;
    // the token stays cached until the charge has held, so an evict nobody paid for removes nothing.
    const claim = await this.claimInTier(key, evicted, evictedBy);
    if (!claim) return 'not_current';
    try {
      await budget.chargeEviction(evictedBy, provider);
    } catch (error) {
      // Over its budget: the claim is taken back, the token stays, and the caller is refused.
      await tier.withdrawEvict(claim);
      throw error;
    }
    return (await this.inTier(() => tier.confirmEvict(claim))) ? 'evicted' : 'not_current';
  }

  /** The tier's claim of an evict; a shared table that could not answer is 503 `service_unavailable`. */
  private claimInTier(
    key: string,
    evicted: EvictedToken,
    evictedBy: string,
  ): Promise<EvictClaim | undefined> {
    return this.inTier(() => this.parts.tier.claimEvict(key, evicted, evictedBy));
  }

  /** A call of the tier's evict; a shared table that could not answer is 503 `service_unavailable`. */
  private async inTier<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof SharedTierUnavailable)) throw error;
      throw tableUnavailable(error.retryAtMs, this.parts.clock.now());
    }
  }

  /**
   * The shared tier's answer for a key memory could not serve: its token when fresh; else one fetch under
   * the key's lease, whoever holds it; renewal ahead of expiry by one caller while the others are served.
   */
  private async fromTier(
    context: VendContext,
    remembered: CachedToken | undefined,
    publish: (early: VendOutcome) => void,
  ): Promise<VendOutcome> {
    const { freshness } = context;
    const item = await this.parts.tier.read(context.key);
    const stored = this.noted(context, item?.token);
    const best = longestLived(await this.unlessEvicted(context, remembered, item), stored);
    if (!best) {
      // The table cannot be read: this container's copy past its trust is what it knows best. It is served
      // only if the provider fails too (a still-valid token rather than a 5xx), never in place of a fetch.
      const lastKnown = item?.standIn ? await this.parts.memory.lastKnown?.(context.key) : undefined;
      // The table answered and holds no token this container could serve: a copy kept here is stale
      // (evicted or replaced elsewhere) and must not be the last resort later.
      if (!item?.standIn) await this.parts.memory.delete(context.key);
      return this.fetchOrWait(context, { token: lastKnown, source: 'memory' }, item?.version);
    }
    const cached: Cached =
      best === stored
        ? { token: best, source: 'table', ...fromRegion(item?.peer?.region) }
        : { token: best, source: 'memory' };
    // A token too short to be worth caching was stored only for the callers waiting on its fetch.
    if (!freshness.isFresh(best, this.nowSeconds()) || !freshness.isWorthCaching(best, this.nowSeconds())) {
      return this.fetchOrWait(context, cached, item?.version);
    }
    if (best === stored) await this.remember(context, best);
    if (!freshness.isRefreshDue(best, this.nowSeconds())) {
      return { token: best, cache: cached.source, ...fromRegion(cached.peerRegion) };
    }
    return this.refreshAhead(context, { ...cached, token: best }, item?.version, publish);
  }

  /**
   * This container's memory copy, unless the table just read says it was evicted (an evict elsewhere since
   * this container last read the table): then it goes, and is never served again here.
   */
  private async unlessEvicted(
    context: VendContext,
    remembered: CachedToken | undefined,
    item: TierItem | undefined,
  ): Promise<CachedToken | undefined> {
    const through = item?.evictedThrough;
    if (!remembered || through === undefined || remembered.issuedAt > through) return remembered;
    await this.parts.memory.delete(context.key);
    return undefined;
  }

  /** Whoever wins the lease renews; everyone else, here and elsewhere, keeps the still-valid token. */
  private async refreshAhead(
    context: VendContext,
    cached: Cached & { readonly token: CachedToken },
    version: string | undefined,
    publish: (early: VendOutcome) => void,
  ): Promise<VendOutcome> {
    const current: VendOutcome = {
      token: cached.token,
      cache: cached.source,
      ...fromRegion(cached.peerRegion),
    };
    let answer: LeaseAnswer<VendOutcome>;
    try {
      // Callers of this container who joined this renewal take the current token and go.
      const work = this.fetchWork(context, 'refresh', () => publish(current));
      answer = await this.parts.lease.ifFree(context.key, version, work, this.leaseMs(context));
    } catch (error) {
      return this.serveWhileValid(context, cached, error);
    }
    if (answer.kind === 'done') return answer.value;
    const renewed = answer.kind === 'superseded' ? this.noted(context, answer.item?.token) : undefined;
    if (renewed && context.freshness.isFresh(renewed, this.nowSeconds()))
      return this.fromTable(context, renewed, answer.kind === 'superseded' ? answer.item?.peer : undefined);
    return current;
  }

  /** No usable cached token: fetch under the key's lease, or take the answer of whoever holds it. */
  private async fetchOrWait(
    context: VendContext,
    cached: Cached,
    version: string | undefined,
  ): Promise<VendOutcome> {
    const { clock, lease, waitBudgetMs } = this.parts;
    const bounds = { leaseMs: this.leaseMs(context), untilMs: clock.now() + waitBudgetMs };
    // The token's version as this caller last saw it: the lease is taken only if it is still that one.
    let seen = version;
    for (let round = 1; round <= MAX_LEASE_ROUNDS && clock.now() < bounds.untilMs; round++) {
      let answer: LeaseAnswer<VendOutcome>;
      try {
        answer = await lease.once(context.key, seen, this.fetchWork(context, 'miss'), bounds);
      } catch (error) {
        return this.serveWhileValid(context, cached, error);
      }
      if (answer.kind === 'done') return answer.value;
      if (answer.kind === 'backoff') {
        const retryAfterSeconds = retryAfterUntil(answer.retryAtMs, clock.now());
        const error = new VendError(
          'upstream_unavailable',
          `Provider "${context.provider.id}" failed repeatedly (${answer.lastError}); it is left alone until it recovers.`,
          { retryAfterSeconds },
        );
        return this.serveWhileValid(context, cached, error);
      }
      if (answer.kind === 'failed') {
        // The holder's error is every waiter's answer: a provider that refuses is asked once, not once per caller.
        // The time nobody asks the provider, as the holder's failure recorded it; else a moment.
        const retryAfterSeconds = retryAfterUntil(answer.retryAtMs ?? 0, clock.now());
        const error = new VendError(
          answer.error,
          `Fetching this token failed moments ago for another caller (${answer.error}).`,
          answer.error === 'upstream_unavailable' || answer.error === 'service_unavailable'
            ? { retryAfterSeconds }
            : {},
        );
        return this.serveWhileValid(context, cached, error);
      }
      if (answer.kind !== 'superseded') break;
      // Another instance stored a token (or evicted one) since we read: its answer is ours if it serves.
      const token = this.noted(context, answer.item?.token);
      if (token && context.freshness.isUsable(token, this.nowSeconds()))
        return this.fromTable(context, token, answer.item?.peer);
      seen = answer.item?.version;
      await clock.sleep(SUPERSEDED_PAUSE_MS);
    }
    throw new VendError(
      'upstream_timeout',
      `Waited ${waitBudgetMs} ms for another instance to fetch the token.`,
    );
  }

  /**
   * The work under a lease: charge the caller's budget (after an eviction, the evicting caller has paid for
   * this renewal), ask the provider, and keep what it issued. The charge is the lease's toll: the table
   * takes it in the lease's own transaction, and only a lease taken without it is charged here. A token a
   * caller asked for (`remember`) is marked in use beside its write to the table, not after it: the mark
   * names the token, which the refresher compares with the table's, so neither order can mislead it.
   */
  private fetchWork(
    context: VendContext,
    cache: 'miss' | 'refresh',
    whenHeld: () => void = () => undefined,
    { remember = true } = {},
  ): LeaseWork<VendOutcome> {
    const work = async (held: HeldLease) => {
      whenHeld();
      // A provider left alone (its backoff, its Retry-After, another caller's probe) is not asked.
      await this.parts.backoff?.admit(context.provider.id, this.leaseMs(context));
      if (!held.tollPaid) {
        try {
          await this.parts.budget.charge(
            context.principal,
            context.provider,
            held.paidBy === undefined ? 'charged' : 'prepaid',
          );
        } catch (error) {
          // This caller's budget is not the waiters' failure: the lease is freed for them to try their own.
          await this.parts.backoff?.forgo(context.provider.id);
          throw new LeaseAbandoned(error);
        }
      }
      this.parts.prepareSeal?.(context.provider.id);
      const { token, upstream } = await this.parts.grant.fetch(context);
      this.parts.lifetimes.record(context, token);
      if (remember) {
        await this.remember(context, token);
        const marking = this.parts.inUse?.vended(context, token);
        if (marking) this.marking.set(token, marking);
      }
      // Stored with a new version however short it is, so that callers waiting on the lease get it.
      return { token, providerId: context.provider.id, value: { token, cache, upstream } };
    };
    // The toll goes with the lease only while this container knows of no backoff step for the provider, so
    // that a grant the backoff refuses has cost its caller nothing (the charge then comes after admission).
    if (this.parts.backoff?.knownBackingOff(context.provider.id)) return work;
    // The provider's record is read while the lease is taken: admission then costs no round trip of its own.
    this.parts.backoff?.prefetch(context.provider.id);
    const toll = this.parts.budget.toll(context.principal, context.provider);
    return toll ? Object.assign(work, { toll }) : work;
  }

  /** A failing provider does not fail a caller whose cached token still meets its min_ttl. */
  private serveWhileValid(context: VendContext, cached: Cached, error: unknown): VendOutcome {
    if (!(error instanceof VendError) || !SERVE_WHILE_VALID.has(error.code)) throw error;
    if (!cached.token || !context.freshness.isUsable(cached.token, this.nowSeconds())) throw error;
    this.parts.log.warn('provider failed; serving the cached token while it is valid', {
      event: 'served_while_valid',
      provider: context.provider.id,
      upstream_failure: error.code,
    });
    return {
      token: cached.token,
      cache: cached.source,
      upstreamFailure: error.code,
      ...fromRegion(cached.peerRegion),
    };
  }

  private servesAsIs(context: VendContext, token: CachedToken): boolean {
    const nowSeconds = this.nowSeconds();
    return context.freshness.isFresh(token, nowSeconds) && !context.freshness.isRefreshDue(token, nowSeconds);
  }

  private async fromTable(
    context: VendContext,
    token: CachedToken,
    peer: PeerToken | undefined,
  ): Promise<VendOutcome> {
    await this.remember(context, token);
    return { token, cache: 'table', ...fromRegion(peer?.region) };
  }

  /** The one place memory is written: only tokens worth serving to the next caller. */
  private async remember(context: VendContext, token: CachedToken): Promise<void> {
    if (context.freshness.isWorthCaching(token, this.nowSeconds())) {
      await this.parts.memory.put(context.key, token, { providerId: context.provider.id });
    }
  }

  /** A token read is a lifetime learnt; one too short for the caller's min_ttl ends the vend at once. */
  private noted(context: VendContext, token: CachedToken | undefined): CachedToken | undefined {
    if (token) {
      this.parts.lifetimes.record(context, token);
      this.parts.lifetimes.assertCanMeet(context);
    }
    return token;
  }

  /** Long enough for every attempt and backoff of one grant; a holder that dies frees the key after it. */
  private leaseMs(context: VendContext): number {
    const { provider } = context;
    return Math.min(this.parts.waitBudgetMs, provider.timeoutMs * provider.maxAttempts + 2000);
  }

  /** A token that cannot serve this caller: too short for its min_ttl, or too short to be of use at all. */
  private unusable(context: VendContext, outcome: VendOutcome): VendError {
    const lifetime = outcome.token.expiresAt - outcome.token.issuedAt;
    if (context.minTtlSeconds !== undefined) return minTtlError(context, lifetime);
    const left = Math.floor(outcome.token.expiresAt - this.nowSeconds());
    return new VendError(
      'upstream_invalid_response',
      `Provider "${context.provider.id}" issued a token valid for ${lifetime} s that had ${left} s left when it arrived.`,
    );
  }

  private nowSeconds(): number {
    return this.parts.clock.now() / 1000;
  }
}

/** A `Retry-After` for a time nobody asks the provider before: at least a second, at most the longest backoff. */
function retryAfterUntil(retryAtMs: number, nowMs: number): number {
  return Math.min(MAX_BACKOFF_MS / 1000, Math.max(1, Math.ceil((retryAtMs - nowMs) / 1000)));
}

/** An evict the shared table could not answer: nothing was evicted there; try again once it is tried again. */
function tableUnavailable(retryAtMs: number, nowMs: number): VendError {
  return new VendError(
    'service_unavailable',
    'The token cache cannot be reached: nothing was evicted. Try again shortly.',
    { retryAfterSeconds: Math.max(1, Math.ceil((retryAtMs - nowMs) / 1000)) },
  );
}

/** Of the tokens at hand, the one that lasts longest. */
function longestLived(...tokens: Array<CachedToken | undefined>): CachedToken | undefined {
  return tokens.reduce<CachedToken | undefined>(
    (best, token) => (token && (!best || token.expiresAt > best.expiresAt) ? token : best),
    undefined,
  );
}
