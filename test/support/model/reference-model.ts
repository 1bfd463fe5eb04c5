import { MEMORY_TRUST_SECONDS } from '../../../lambda/cache/memory-token-store';
import { tokenFingerprint } from '../../../packages/client/src/wire-contract';
import {
  type CallerName,
  type InstanceName,
  PROVIDER,
  type ProviderCall,
  REGION_OF,
  type Region,
  SCOPES,
  type Scope,
} from './real-system';

/**
 * The reference model of a key's life: small enough to be obviously right. Per region and scope (a key),
 * the token the region's table holds, the one replicated from the other region, and the tokens evicted;
 * per instance, what its memory holds; the faults, when they were on; the dead leases. The invariants read
 * it and the provider's log of requests; they never read the real system's state.
 *
 * Documented bounds the invariants allow (and nothing else):
 * - another instance of the evicting region may serve an evicted token from its memory for MEMORY_TRUST_MS
 *   (docs/api.md: "under 10 s"), and past it while it cannot read its table (the copy it holds is then its
 *   last resort when the provider fails too); the evicting instance never, nor anyone after that;
 * - while the table or the key service fails, and for CALM_MS after, each container caches alone
 *   (fallback tier and budget ledger per container), so requests are not held to one per lifetime, and
 *   a container's backoff count and budget counters start afresh in its fallback tier;
 * - a refresher run may renew a key up to one period (plus its late-run slack) ahead of the request path;
 * - an evict leaves an issued floor in its region that hides every token issued no later than the evicted
 *   one, another region's included: such a token does not count as one at hand;
 * - budgets are per region (each region counts on its own items), and the renewal an evict paid for is
 *   not charged to the caller whose vend makes it;
 * - the service dates a token from when it asked the provider, so a slow provider's token is served for
 *   less than its lifetime (`servedUntilMs`).
 */

/** How long an instance trusts its memory copy with a shared table (MemoryTokenStore's default). */
export const MEMORY_TRUST_MS = MEMORY_TRUST_SECONDS * 1000;
/** The longest lease (lease-rule MAX_LEASE_MS) plus the longest provider backoff (MAX_BACKOFF_MS). */
export const CALM_MS = 12_000 + 30_000;
/** How long an instance leaves a failed table alone (DependencyBypass BYPASS_MS). */
const BYPASS_MS = 10_000;
/** The refresher's period and its late-run slack: how far ahead of the request path it may renew. */
const REFRESH_AHEAD_MS = (60 + 10) * 1000;
/** Renewal starts at most this fraction of the lifetime before the margin (Freshness). */
const REFRESH_FRACTION = 0.2;
/** Provider failures in a row after which the provider is left alone, and the shortest first backoff. */
const FAILURE_THRESHOLD = 3;
const SHORTEST_BACKOFF_MS = 500;
const WINDOW_MS = 60_000;

export type FaultName =
  | 'table-hung:north'
  | 'table-hung:west'
  | 'table-throttled:north'
  | 'table-throttled:west'
  | 'kms-refused:north'
  | 'kms-refused:west'
  | 'provider-5xx'
  | 'provider-429'
  | 'provider-slow';

/** The invariants, by name. */
export type Invariant =
  | 'no-evicted-token-served'
  | 'no-expired-or-short-token'
  | 'grant-respected'
  | 'one-upstream-request-per-lifetime'
  | 'no-5xx-while-valid'
  | 'no-key-wedged'
  | 'no-budget-exceeded'
  | 'retry-after-honoured'
  | 'backoff-per-provider'
  | 'evict-answer-is-the-tables'
  | 'refresher-counts-failures';

/**
 * Defects issue 28 lists, which main still has: a violation the classifier attributes to one of these is
 * recorded and reported, not failed. Each goes once its fix is merged (the set is then empty).
 */
export const KNOWN_DEFECTS: ReadonlySet<string> = new Set([
  // Empty: issue 28's six (dead-holder-504, retry-after-dropped, backoff-per-key, evict-fallback-writeback,
  // evict-answers-local, refresher-hides-failures) are fixed, and their stories below fail on the old code.
]);

export interface Violation {
  readonly invariant: Invariant;
  /** The issue's defect this violation is an instance of, if the classifier knows it. */
  readonly defect?: string;
  readonly detail: string;
}

interface Held {
  readonly token: IssuedToken;
  readonly atMs: number;
}

export interface IssuedToken {
  readonly accessToken: string;
  readonly scope: Scope;
  readonly region: Region;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  /**
   * When the service takes it to expire: its lifetime counted from when the instance asked, which is
   * earlier than the provider's answer when the provider is slow. What the service may serve it until.
   */
  readonly servedUntilMs: number;
  /** Issued while the region's table or key service failed: it went to a fallback tier, not the table. */
  readonly faulted: boolean;
}

interface Eviction {
  readonly region: Region;
  readonly atMs: number;
  readonly instance: string;
  /** Answered while the region's table failed. */
  readonly faulted: boolean;
}

const keyOf = (region: Region, scope: Scope) => `${region}/${scope}`;

export class ReferenceModel {
  readonly violations: Violation[] = [];
  /** Tokens the provider issued, by access token. */
  private readonly tokens = new Map<string, IssuedToken>();
  /** The token each region's table holds for a scope, as far as the model can tell (under-approximated). */
  private readonly table = new Map<string, IssuedToken>();
  /** The other region's token, as last replicated into a region. */
  private readonly peer = new Map<string, IssuedToken>();
  private readonly evicted = new Map<string, Eviction>();
  /**
   * Per region and scope, the issue time of the latest token evicted there: an evict leaves an issued floor
   * that hides every token issued at or before it, another region's included (docs/design-notes.md).
   */
  private readonly floors = new Map<string, number>();
  /** Per instance id and scope: the token its memory holds, and since when. */
  private readonly memory = new Map<string, Held>();
  /** The last token each instance served per scope (what a caller would evict). */
  readonly lastServed = new Map<string, IssuedToken>();
  /** Per fault: on since (undefined: off), and when it was last on. */
  private readonly faultOnSince = new Map<FaultName, number>();
  private readonly faultLastOn = new Map<FaultName, number>();
  /** The provider said not before this, per region. */
  /**
   * A provider's last Retry-After per region, and who learnt it: learnt while the region's table failed, it
   * is in that container's fallback alone; and a container that asks while the table fails reads only its
   * own fallback (docs/design-notes.md, the dependency table: each container counts its own).
   */
  /** How many times the provider's log was read: once per command, so the command a call belongs to. */
  private observations = 0;
  private readonly retryAfterUntil = new Map<
    Region,
    {
      /** The command whose provider calls taught it (see {@link observeCalls}). */
      readonly command: number;
      readonly scope: Scope;
      readonly untilMs: number;
      readonly instance: string;
      readonly alone: boolean;
    }
  >();
  private readonly deadLeases: Array<{ region: Region; scope: Scope; untilMs: number }> = [];
  /** Provider calls made while their region's table or key service failed: counted by a fallback tier. */
  private readonly alone = new WeakSet<ProviderCall>();
  /** Keys whose renewal an evict paid for (until a token is granted): not charged to the vend's caller. */
  private readonly prepaid = new Set<string>();
  private readonly prepaidCalls = new WeakSet<ProviderCall>();
  /** How many provider calls the model has read. */
  private seenCalls = 0;

  constructor(private readonly now: () => number) {}

  // ---- what the commands tell the model ----

  faultOn(fault: FaultName): void {
    if (!this.faultOnSince.has(fault)) this.faultOnSince.set(fault, this.now());
  }

  faultOff(fault: FaultName): void {
    if (this.faultOnSince.has(fault)) this.faultLastOn.set(fault, this.now());
    this.faultOnSince.delete(fault);
  }

  isOn(fault: FaultName): boolean {
    return this.faultOnSince.has(fault);
  }

  /** An instance died holding the lease of `scope` in its region (leases last 12 s at most). */
  deadHolder(name: InstanceName, scope: Scope): void {
    this.deadLeases.push({ region: REGION_OF[name], scope, untilMs: this.now() + 12_000 });
  }

  /** An instance was replaced: its memory is gone. */
  replaced(oldId: string): void {
    for (const key of [...this.memory.keys()]) if (key.startsWith(`${oldId}/`)) this.memory.delete(key);
  }

  replicated(from: Region): void {
    const to: Region = from === 'north' ? 'west' : 'north';
    for (const scope of ['read', 'write'] as const) {
      const token = this.table.get(keyOf(from, scope));
      if (token) this.peer.set(keyOf(to, scope), token);
      else this.peer.delete(keyOf(to, scope));
    }
  }

  // ---- the provider's log, read after every command ----

  /** Reads the provider calls made since the last look, checking each against the request invariants. */
  observeCalls(calls: readonly ProviderCall[], minTtlOfCommand?: number): void {
    this.observations += 1;
    for (; this.seenCalls < calls.length; this.seenCalls++) {
      const call = calls[this.seenCalls] as ProviderCall;
      if (this.storageFailing(call.region, call.atMs, BYPASS_MS)) this.alone.add(call);
      if (this.prepaid.has(keyOf(call.region, call.scope))) this.prepaidCalls.add(call);
      if (call.outcome === 'granted') this.prepaid.delete(keyOf(call.region, call.scope));
      this.checkRequest(call, calls.slice(0, this.seenCalls), minTtlOfCommand);
      if (call.outcome === 'granted' && call.accessToken && call.issuedAtMs && call.expiresAtMs) {
        const faulted = this.storageFailing(call.region, call.atMs);
        const token: IssuedToken = {
          accessToken: call.accessToken,
          scope: call.scope,
          region: call.region,
          issuedAtMs: call.issuedAtMs,
          expiresAtMs: call.expiresAtMs,
          servedUntilMs: call.expiresAtMs - (call.issuedAtMs - call.sentAtMs),
          faulted,
        };
        this.tokens.set(token.accessToken, token);
        if (!faulted) this.table.set(keyOf(call.region, call.scope), token);
      }
      if (call.retryAfterSeconds !== undefined) {
        this.retryAfterUntil.set(call.region, {
          command: this.observations,
          scope: call.scope,
          untilMs: call.atMs + Math.min(call.retryAfterSeconds, 30) * 1000,
          instance: call.instance,
          alone: this.alone.has(call),
        });
      }
    }
  }

  // ---- the invariants of a vend's answer ----

  vendAnswered(answer: {
    instance: string;
    name: InstanceName;
    caller: CallerName;
    scope: Scope;
    minTtl?: number;
    status: number;
    json: Record<string, unknown>;
    startMs: number;
    endMs: number;
    /** Several vends ran at once: judge timing by the start. */
    concurrent: boolean;
  }): void {
    const region = REGION_OF[answer.name];
    const granted = PROVIDER.grants[answer.caller].includes(answer.scope);
    const story = `${answer.caller} vend(${answer.scope}${answer.minTtl === undefined ? '' : `, min_ttl ${answer.minTtl}`}) on ${answer.instance}`;
    if (answer.status === 200) {
      const accessToken = String(answer.json.access_token);
      const token = this.tokens.get(accessToken);
      if (!granted) this.violate('grant-respected', `${story} was served a token`);
      if (!token) {
        this.violate('grant-respected', `${story} was served a token the provider never issued`);
        return;
      }
      if (token.scope !== answer.scope) {
        this.violate('grant-respected', `${story} was served a token for scope ${token.scope}`);
      }
      const at = answer.concurrent ? answer.startMs : answer.endMs;
      const leftSeconds = (token.expiresAtMs - at) / 1000;
      if (leftSeconds <= 0 || (answer.minTtl !== undefined && leftSeconds <= answer.minTtl)) {
        this.violate(
          'no-expired-or-short-token',
          `${story} was served ${accessToken} with ${leftSeconds.toFixed(1)} s left`,
        );
      }
      this.checkNotEvicted(token, answer.instance, region, answer.endMs, story);
      this.lastServed.set(`${answer.name}/${answer.scope}`, token);
      if (leftSeconds > Math.max(marginSeconds(token), 10)) {
        this.memory.set(`${answer.instance}/${answer.scope}`, { token, atMs: answer.endMs });
      }
      return;
    }
    if (answer.status < 500) {
      if (granted && answer.status === 403) this.violate('grant-respected', `${story} was refused 403`);
      return;
    }
    const code = String(answer.json.error ?? '');
    const valid = this.reachableValid(answer.instance, region, answer.scope, answer.startMs, answer.minTtl);
    if (valid) {
      this.violate(
        'no-5xx-while-valid',
        `${story} answered ${answer.status} ${code} while ${valid.accessToken} (valid until +${Math.round((valid.servedUntilMs - answer.startMs) / 1000)} s) was at hand`,
      );
    }
    if (granted && this.calm(answer.startMs)) {
      const dead = this.deadLeases.some(
        (lease) => lease.region === region && lease.scope === answer.scope && lease.untilMs >= answer.startMs,
      );
      this.violate(
        'no-key-wedged',
        `${story} answered ${answer.status} ${code} with no fault in the last ${CALM_MS / 1000} s${dead ? ', a dead holder having held the lease' : ''}`,
        dead ? 'dead-holder-504' : undefined,
      );
    }
  }

  evictAnswered(answer: {
    instance: string;
    name: InstanceName;
    caller: CallerName;
    scope: Scope;
    token: IssuedToken;
    status: number;
    outcome?: string;
    json: Record<string, unknown>;
    startMs: number;
  }): void {
    const region = REGION_OF[answer.name];
    // Whatever the table did, the container that took the DELETE drops its copies of the named token
    // (docs/api.md); only a request refused before it is read (400, 403) leaves them.
    const held = this.memory.get(`${answer.instance}/${answer.scope}`);
    if (
      answer.status !== 400 &&
      answer.status !== 403 &&
      held?.token.accessToken === answer.token.accessToken
    ) {
      this.memory.delete(`${answer.instance}/${answer.scope}`);
    }
    if (answer.status !== 204 || answer.outcome !== 'evicted') return;
    const tableFailing = this.isOn(`table-hung:${region}`) || this.isOn(`table-throttled:${region}`);
    if (tableFailing) {
      this.violate(
        'evict-answer-is-the-tables',
        `evict of ${answer.token.accessToken} on ${answer.instance} answered "evicted" while the ${region} table failed`,
        'evict-answers-local',
      );
    }
    this.evicted.set(tokenFingerprint(answer.token.accessToken), {
      region,
      atMs: answer.startMs,
      instance: answer.instance,
      faulted: tableFailing,
    });
    this.prepaid.add(keyOf(region, answer.scope));
    const floorKey = keyOf(region, answer.scope);
    this.floors.set(floorKey, Math.max(this.floors.get(floorKey) ?? 0, answer.token.issuedAtMs));
    this.memory.delete(`${answer.instance}/${answer.scope}`);
    const stored = this.table.get(keyOf(region, answer.scope));
    if (stored?.accessToken === answer.token.accessToken) this.table.delete(keyOf(region, answer.scope));
    const peer = this.peer.get(keyOf(region, answer.scope));
    if (peer?.accessToken === answer.token.accessToken) this.peer.delete(keyOf(region, answer.scope));
  }

  /** A refresher run's report: under a table or key-service fault, a due key it did not renew is a failure. */
  refresherReported(
    name: InstanceName,
    report: { due: number; renewed: number; failed: number; current: number },
  ): void {
    const region = REGION_OF[name];
    const tableFailing = this.isOn(`table-hung:${region}`) || this.isOn(`table-throttled:${region}`);
    const failing = tableFailing || this.isOn(`kms-refused:${region}`);
    if (!failing || report.renewed > 0 || report.failed > 0) return;
    // A run that found due keys and renewed none while its table or key service failed counted a failure
    // as "current"; the model cannot see the index, so a run that found none is not judged. With only the
    // key service failing, a key whose table holds no token (evicted, or expired) is current without KMS:
    // there is nothing to open or renew, and the next vend's miss fetches it.
    const withoutToken = tableFailing
      ? 0
      : SCOPES.filter((scope) => {
          // A key that was ever vended here (so it may be marked due) and whose table holds no live token.
          const vended = [...this.tokens.values()].some(
            (token) => token.region === region && token.scope === scope,
          );
          const held = this.table.get(keyOf(region, scope));
          return vended && (!held || held.servedUntilMs <= this.now());
        }).length;
    if (report.current > withoutToken) {
      this.violate(
        'refresher-counts-failures',
        `refresher on ${name} under a ${region} fault reported ${report.current} current, 0 failed, of ${report.due} due`,
        'refresher-hides-failures',
      );
    }
  }

  // ---- helpers ----

  private violate(invariant: Invariant, detail: string, defect?: string): void {
    this.violations.push({ invariant, detail, ...(defect === undefined ? {} : { defect }) });
  }

  private checkNotEvicted(
    token: IssuedToken,
    instance: string,
    region: Region,
    atMs: number,
    story: string,
  ): void {
    const eviction = this.evicted.get(tokenFingerprint(token.accessToken));
    if (!eviction || eviction.region !== region) return;
    const inWindow =
      eviction.instance !== instance &&
      (atMs - eviction.atMs < MEMORY_TRUST_MS || this.storageFailing(region, atMs, BYPASS_MS));
    if (inWindow) return;
    this.violate(
      'no-evicted-token-served',
      `${story} was served ${token.accessToken}, evicted ${Math.round((atMs - eviction.atMs) / 1000)} s before on ${eviction.instance}`,
      token.faulted || eviction.faulted ? 'evict-fallback-writeback' : undefined,
    );
  }

  /** The tokens a region's table shows for a scope: its own and the replicated one, above its floor. */
  private visible(region: Region, scope: Scope): IssuedToken[] {
    // The service keeps issue times in whole seconds: a token of the floor's second is under it too.
    const floor = (this.floors.get(keyOf(region, scope)) ?? Number.NEGATIVE_INFINITY) + 1000;
    return [this.table.get(keyOf(region, scope)), this.peer.get(keyOf(region, scope))]
      .filter((token): token is IssuedToken => token !== undefined)
      .filter((token) => token.issuedAtMs > floor)
      .filter((token) => this.evicted.get(tokenFingerprint(token.accessToken))?.region !== region);
  }

  /** A token this instance could serve: in its memory, or in its region's table while the table answers. */
  private reachableValid(
    instance: string,
    region: Region,
    scope: Scope,
    atMs: number,
    minTtl?: number,
  ): IssuedToken | undefined {
    const candidates: IssuedToken[] = [];
    const held = this.memory.get(`${instance}/${scope}`);
    const tableFailing = this.storageFailing(region, atMs, BYPASS_MS);
    // Past its trust, a memory copy is the last resort of an instance that cannot read its table.
    if (held && (atMs - held.atMs < MEMORY_TRUST_MS || tableFailing)) candidates.push(held.token);
    if (!tableFailing) candidates.push(...this.visible(region, scope));
    return candidates.find((token) => {
      // Issued while this vend ran (to another caller of a burst): not at hand when it started.
      if (token.issuedAtMs > atMs) return false;
      const eviction = this.evicted.get(tokenFingerprint(token.accessToken));
      if (eviction?.region === region) return false;
      const left = (token.servedUntilMs - atMs) / 1000;
      // One second of slack: the service judges at its own moment of the vend.
      return left >= 2 && left > (minTtl ?? marginSeconds(token)) + 1;
    });
  }

  /** The region's table or key service failed at `atMs`, or within `graceMs` before. */
  private storageFailing(region: Region, atMs: number, graceMs = 0): boolean {
    return ([`table-hung:${region}`, `table-throttled:${region}`, `kms-refused:${region}`] as const).some(
      (fault) => this.wasOn(fault, atMs, graceMs),
    );
  }

  private wasOn(fault: FaultName, atMs: number, graceMs: number): boolean {
    if (this.faultOnSince.has(fault)) return true;
    const last = this.faultLastOn.get(fault);
    return last !== undefined && atMs - last < graceMs;
  }

  /** Nothing failing (a slow provider is not failing), none for CALM_MS, no Retry-After running. */
  private calm(atMs: number): boolean {
    const failing = [...this.faultOnSince.keys(), ...this.faultLastOn.keys()].filter(
      (fault) => fault !== 'provider-slow',
    );
    if (failing.some((fault) => this.wasOn(fault, atMs, CALM_MS))) return false;
    return [...this.retryAfterUntil.values()].every(({ untilMs }) => untilMs + CALM_MS <= atMs);
  }

  private anyFailingWithin(atMs: number, graceMs: number): boolean {
    return [...this.faultOnSince.keys(), ...this.faultLastOn.keys()]
      .filter((fault) => fault !== 'provider-slow')
      .some((fault) => this.wasOn(fault, atMs, graceMs));
  }

  /** The request invariants: one per lifetime, Retry-After, backoff per provider, budgets. */
  private checkRequest(call: ProviderCall, before: readonly ProviderCall[], minTtl?: number): void {
    const region = call.region;
    const story = `request for ${call.scope} from ${call.instance} (${call.cause}) at +${Math.round(call.atMs / 1000) % 100_000} s`;
    const learnt = this.retryAfterUntil.get(region);
    // Keys asked at the same moment, before any failure was known, each ask once (docs/design-notes.md,
    // issue 28): within the command that met the Retry-After only the same key asking again breaks it.
    const bound =
      learnt !== undefined &&
      (learnt.command < this.observations || learnt.scope === call.scope) &&
      (learnt.instance === call.instance || (!learnt.alone && !this.alone.has(call)));
    const retryUntil = bound ? learnt.untilMs : undefined;
    if (retryUntil !== undefined && call.atMs < retryUntil) {
      this.violate(
        'retry-after-honoured',
        `${story}: the provider had said Retry-After, ${Math.round((retryUntil - call.atMs) / 1000)} s to go`,
        'retry-after-dropped',
      );
    }
    // Backoff per provider: after FAILURE_THRESHOLD failures in a row in this region, whatever the keys;
    // while the region's table fails, each container counts its own (its fallback tier keeps the record).
    const ownRegion = before.filter((earlier) => earlier.region === region);
    const counted = this.alone.has(call)
      ? ownRegion.filter((earlier) => earlier.instance === call.instance && this.alone.has(earlier))
      : ownRegion.filter((earlier) => !this.alone.has(earlier));
    let failures = 0;
    for (let index = counted.length - 1; index >= 0 && counted[index]?.outcome === 'failed'; index--) {
      failures += 1;
    }
    const last = counted.at(-1);
    if (failures >= FAILURE_THRESHOLD && last && call.atMs - last.atMs < SHORTEST_BACKOFF_MS) {
      const sameKey = counted.slice(-failures).every((earlier) => earlier.scope === call.scope);
      this.violate(
        'backoff-per-provider',
        `${story}: ${failures} failures in a row, the last ${call.atMs - last.atMs} ms before`,
        sameKey ? undefined : 'backoff-per-key',
      );
    }
    // One request per key per lifetime, while nothing fails.
    if (!this.anyFailingWithin(call.atMs, CALM_MS)) {
      const best = this.visible(region, call.scope).sort((a, b) => b.expiresAtMs - a.expiresAtMs)[0];
      if (best) {
        const lifetime = (best.expiresAtMs - best.issuedAtMs) / 1000;
        const ahead =
          marginSeconds(best) +
          lifetime * REFRESH_FRACTION +
          (call.cause === 'refresher' ? REFRESH_AHEAD_MS / 1000 : 0);
        const left = (best.servedUntilMs - call.atMs) / 1000;
        if (left > Math.max(ahead, minTtl ?? 0) + 1) {
          this.violate(
            'one-upstream-request-per-lifetime',
            `${story}: ${best.accessToken} of ${best.region} still had ${Math.round(left)} s left (renewal starts at ${Math.round(ahead)} s)`,
          );
        }
      }
    }
    // Budgets, per region (each region counts on its own items); per container too while the table failed.
    const windowStart = Math.floor(call.atMs / WINDOW_MS) * WINDOW_MS;
    const inWindow = [...ownRegion, call].filter((earlier) => earlier.atMs >= windowStart);
    // The table's counters, and each container's own while it could not reach them: one budget each.
    const containers =
      1 +
      new Set(inWindow.filter((earlier) => this.alone.has(earlier)).map((earlier) => earlier.instance)).size;
    const { perMinute, perCallerPerMinute } = PROVIDER.upstreamBudget;
    if (inWindow.length > perMinute * containers) {
      this.violate(
        'no-budget-exceeded',
        `${story}: ${inWindow.length} requests this minute (budget ${perMinute})`,
      );
    }
    if (call.cause !== 'refresher' && call.cause !== 'unknown' && !this.prepaidCalls.has(call)) {
      // A renewal an evict paid for is the evicting caller's (charged with the evict), whoever's vend makes it.
      const byCaller = inWindow.filter(
        (earlier) => earlier.cause === call.cause && !this.prepaidCalls.has(earlier),
      ).length;
      if (byCaller > perCallerPerMinute * containers) {
        this.violate(
          'no-budget-exceeded',
          `${story}: ${byCaller} requests by ${call.cause} this minute (budget ${perCallerPerMinute})`,
        );
      }
    }
  }
}

/** The provider's margin for a token (Freshness.marginSeconds). */
export function marginSeconds(token: IssuedToken): number {
  return Math.min(PROVIDER.refreshMarginSeconds, Math.floor((token.expiresAtMs - token.issuedAtMs) / 2000));
}
