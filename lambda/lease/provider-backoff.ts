import { randomUUID } from 'node:crypto';
import {
  afterFailedAttempt,
  countsTowardsBackoff,
  isFailing,
  MAX_PROBE_MS,
  type ProviderRecord,
  type ProviderStanding,
  providerStanding,
  withProbe,
} from '../backoff-policy';
import { BoundedMap } from '../bounded-map';
import type { DependencyBypass } from '../cache/dependency-bypass';
import { type Clock, systemClock } from '../clock';
import { type ErrorCode, VendError } from '../errors';
import type { UpstreamAttempts } from '../oauth/token-client';

/**
 * Where a provider's record is kept: storage only (a read, and a read-modify-write), the rules are
 * `backoff-policy.ts`'s. `change` sees the record as stored now and answers the record to write, `'clear'`
 * to end it, or undefined to write nothing; `update` answers the record as it stands after.
 */
export interface ProviderRecords {
  read(providerId: string): Promise<ProviderRecord | undefined>;
  update(
    providerId: string,
    change: (current: ProviderRecord | undefined) => ProviderRecord | 'clear' | undefined,
  ): Promise<ProviderRecord | undefined>;
}

/** One container's records: without a table, and while the table fails. */
export class InProcessProviderRecords implements ProviderRecords {
  private readonly records = new BoundedMap<string, ProviderRecord>(1000);

  async read(providerId: string): Promise<ProviderRecord | undefined> {
    return this.records.peek(providerId);
  }

  async update(
    providerId: string,
    change: (current: ProviderRecord | undefined) => ProviderRecord | 'clear' | undefined,
  ): Promise<ProviderRecord | undefined> {
    const next = change(this.records.peek(providerId));
    if (next === 'clear') this.records.delete(providerId);
    else if (next !== undefined) this.records.set(providerId, next);
    return this.records.peek(providerId);
  }
}

/** The provider is being left alone: the caller gets 503 with the time left, and nobody asks it. */
export class ProviderBackingOff extends VendError {
  constructor(providerId: string, lastError: ErrorCode, retryAtMs: number, nowMs: number) {
    const retryAfterSeconds = Math.max(1, Math.ceil((retryAtMs - nowMs) / 1000));
    super(
      'upstream_unavailable',
      `Provider "${providerId}" failed repeatedly (${lastError}) or asked to be left alone: nobody asks it for ${retryAfterSeconds} s.`,
      { retryAfterSeconds, retryAtMs },
    );
  }
}

export interface ProviderBackoffOptions {
  /** The records every container shares (the table), or this container's alone. */
  readonly records: ProviderRecords;
  /** Answers while the table fails or is left alone. @default records of this container */
  readonly fallback?: ProviderRecords;
  /** When the table is left alone, and where its failures are reported. @default none: `records` never fails */
  readonly bypass?: DependencyBypass;
  readonly clock?: Clock;
  readonly random?: () => number;
}

/**
 * Backoff per provider, across every key and container (issue 28): before a grant, whether the provider may
 * be asked (a backoff step, or a probe after one that this caller must win); during it, each failed
 * attempt counted and each retry asked for; after it, an answer ends the backoff for everyone.
 *
 * This container remembers the record as it last read or wrote it: a step it knows of is answered without a
 * table call (nobody asks before it ends; only a grant already under way when it began may answer within
 * it); otherwise a grant reads the record first (one GetItem per grant). The table's record is the truth;
 * memory only spares reads.
 */
/** How old a record read beside the lease may be when the grant is admitted on it. */
const PREFETCH_FRESH_MS = 1000;

export class ProviderBackoff implements UpstreamAttempts {
  private readonly known = new BoundedMap<string, ProviderRecord>(1000);
  /** The probe this container claimed per provider, until its caller asks (or forgoes it). */
  private readonly probing = new BoundedMap<string, string>(1000);
  /** A read of the record started beside the lease's write, for the admission that follows it. */
  private readonly prefetched = new BoundedMap<
    string,
    { readonly atMs: number; readonly record: Promise<ProviderRecord | undefined> }
  >(1000);
  private readonly records: ProviderRecords;
  private readonly fallback: ProviderRecords;
  private readonly bypass: DependencyBypass | undefined;
  private readonly clock: Clock;
  private readonly random: () => number;

  constructor(options: ProviderBackoffOptions) {
    this.records = options.records;
    this.fallback = options.fallback ?? new InProcessProviderRecords();
    this.bypass = options.bypass;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
  }

  /**
   * Before a grant (under the key's lease): returns when the provider may be asked; else throws
   * {@link ProviderBackingOff}. After a backoff step the one caller that claims the probe (for `probeMs`,
   * the length of its lease) is let through; the others are told to come back in a moment.
   */
  async admit(providerId: string, probeMs: number): Promise<void> {
    const standing = await this.standing(providerId, probeMs);
    if (standing.kind === 'backing_off') {
      throw new ProviderBackingOff(providerId, standing.lastError, standing.retryAtMs, this.clock.now());
    }
  }

  /**
   * Starts reading the provider's record while the key's lease is being taken, so that {@link admit} right
   * after it costs no round trip of its own. Nothing is read when memory already knows of a step; a read
   * older than {@link PREFETCH_FRESH_MS} when admission comes is not used (the lease was waited for).
   */
  prefetch(providerId: string): void {
    if (this.knownBackingOff(providerId)) return;
    const record = this.call((records) => records.read(providerId));
    // Its failure is the bypass's to report (in `call`); an unused read must not become an unhandled rejection.
    record.catch(() => undefined);
    this.prefetched.set(providerId, { atMs: this.clock.now(), record });
  }

  /** Whether this container knows of a backoff step for the provider now (memory only, no table call). */
  knownBackingOff(providerId: string): boolean {
    const known = this.known.get(providerId);
    return (
      providerStanding(known, this.clock.now()).kind === 'backing_off' &&
      (known?.retryAtMs ?? 0) > this.clock.now()
    );
  }

  async failed(providerId: string, error: ErrorCode, retryAfterMs?: number): Promise<number> {
    this.probing.delete(providerId);
    if (!countsTowardsBackoff(error)) return 0;
    const after = await this.write(providerId, (current) =>
      afterFailedAttempt(
        current,
        { error, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
        this.clock.now(),
        this.random,
      ),
    );
    return after?.retryAtMs ?? 0;
  }

  async mayRetry(providerId: string): Promise<number> {
    const standing = await this.standing(providerId, MAX_PROBE_MS);
    return standing.kind === 'backing_off' ? standing.retryAtMs : 0;
  }

  /**
   * The admitted caller will not ask after all (its budget is spent): a probe it claimed goes back at once,
   * so that the next caller probes instead of everyone waiting for the claim to lapse.
   */
  async forgo(providerId: string): Promise<void> {
    const owner = this.probing.get(providerId);
    if (owner === undefined) return;
    this.probing.delete(providerId);
    await this.write(providerId, (current) => {
      if (current?.probeOwner !== owner) return undefined;
      const { probeOwner: _owner, probeUntilMs: _until, ...rest } = current;
      return rest;
    });
  }

  async answered(providerId: string): Promise<void> {
    this.probing.delete(providerId);
    // Nothing known to clear: a healthy provider's answers cost no write.
    if (!isFailing(this.known.get(providerId))) return;
    await this.write(providerId, (current) => (isFailing(current) ? 'clear' : undefined));
  }

  /** Open, or backing off; a probe that is due is claimed here, and open only for the caller that won it. */
  private async standing(
    providerId: string,
    probeMs: number,
  ): Promise<Exclude<ProviderStanding, { kind: 'probe_due' }>> {
    // A step known here is answered from memory; a probe under way is not (its answer may end it any time).
    const known = this.known.get(providerId);
    const remembered = providerStanding(known, this.clock.now());
    if (remembered.kind === 'backing_off' && (known?.retryAtMs ?? 0) > this.clock.now()) return remembered;
    const record = await (this.takePrefetched(providerId) ??
      this.call((records) => records.read(providerId)));
    this.remember(providerId, record);
    const standing = providerStanding(record, this.clock.now());
    if (standing.kind !== 'probe_due') return standing;
    const owner = randomUUID();
    const after = await this.write(providerId, (current) =>
      current && providerStanding(current, this.clock.now()).kind === 'probe_due'
        ? withProbe(current, owner, this.clock.now(), probeMs)
        : undefined,
    );
    if (after?.probeOwner === owner) {
      this.probing.set(providerId, owner);
      return { kind: 'open' };
    }
    const now = providerStanding(after, this.clock.now());
    if (now.kind !== 'probe_due') return now;
    // The claim could not be written (others kept changing the record): come back in a moment.
    return {
      kind: 'backing_off',
      retryAtMs: this.clock.now() + 1000,
      lastError: after?.lastError ?? 'upstream_unavailable',
    };
  }

  private async write(
    providerId: string,
    change: (current: ProviderRecord | undefined) => ProviderRecord | 'clear' | undefined,
  ): Promise<ProviderRecord | undefined> {
    const after = await this.call((records) => records.update(providerId, change));
    this.remember(providerId, after);
    return after;
  }

  private remember(providerId: string, record: ProviderRecord | undefined): void {
    if (record) this.known.set(providerId, record);
    else this.known.delete(providerId);
  }

  /** The table's records, or this container's while the table fails (logged, and left alone as the tier does). */
  private takePrefetched(providerId: string): Promise<ProviderRecord | undefined> | undefined {
    const prefetched = this.prefetched.get(providerId);
    if (!prefetched) return undefined;
    this.prefetched.delete(providerId);
    return this.clock.now() - prefetched.atMs <= PREFETCH_FRESH_MS ? prefetched.record : undefined;
  }

  private async call<T>(operation: (records: ProviderRecords) => Promise<T>): Promise<T> {
    if (this.bypass?.tableBypassed()) return operation(this.fallback);
    try {
      return await operation(this.records);
    } catch (error) {
      if (!this.bypass) throw error;
      this.bypass.failed('backoff', error);
      return operation(this.fallback);
    }
  }
}
