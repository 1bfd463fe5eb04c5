import { randomUUID } from 'node:crypto';
import { recordFailure } from '../backoff-policy';
import type { ErrorCode } from '../errors';
import type { Lease, LeaseOutcome, LeaseResult, SharedTier, TierItem } from './shared-tier';
import type { CachedToken } from './token-store';

interface Entry {
  token?: CachedToken;
  version?: string;
  leaseUntilMs: number;
  owner?: string;
  failures: number;
  retryAtMs: number;
  lastError?: ErrorCode;
  failedAtMs?: number;
  evictedBy?: string;
}

export interface InProcessTierOptions {
  readonly now?: () => number;
  readonly random?: () => number;
  /** Keys kept at most; the least recently written go first. @default 1000 */
  readonly maxEntries?: number;
}

/**
 * The shared tier of one process, with the DynamoDB tier's semantics: for a service without a table, and
 * the fallback while the table fails. Expired tokens are dropped when read.
 */
export class InProcessTier implements SharedTier {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly maxEntries: number;

  constructor(options: InProcessTierOptions = {}) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.maxEntries = options.maxEntries ?? 1000;
  }

  async read(key: string): Promise<TierItem | undefined> {
    const entry = this.live(key);
    if (!entry) return undefined;
    return {
      leaseUntilMs: entry.leaseUntilMs,
      ...(entry.token ? { token: entry.token, version: entry.version } : {}),
      ...(entry.lastError === undefined ? {} : { lastError: entry.lastError, failedAtMs: entry.failedAtMs }),
    } as TierItem;
  }

  async acquire(key: string, leaseMs: number, seenVersion: string | undefined): Promise<LeaseResult> {
    const nowMs = this.now();
    const entry = this.live(key) ?? { leaseUntilMs: 0, failures: 0, retryAtMs: 0 };
    if (entry.retryAtMs > nowMs) {
      return {
        kind: 'backoff',
        retryAtMs: entry.retryAtMs,
        lastError: entry.lastError ?? 'upstream_unavailable',
      };
    }
    if (entry.leaseUntilMs > nowMs) return { kind: 'held', leaseUntilMs: entry.leaseUntilMs };
    if (entry.version !== seenVersion) return { kind: 'superseded', item: await this.read(key) };
    const owner = randomUUID();
    const { evictedBy: paidBy, ...rest } = entry;
    this.write(key, { ...rest, leaseUntilMs: nowMs + leaseMs, owner });
    return {
      kind: 'acquired',
      lease: { key, owner, priorFailures: entry.failures, ...(paidBy === undefined ? {} : { paidBy }) },
    };
  }

  async release(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    const entry = this.entries.get(lease.key);
    if (outcome.kind === 'succeeded') {
      // A holder whose lease was taken over still writes its token: it is valid, and the other's will follow.
      const keepsLease = entry && entry.owner !== lease.owner;
      this.write(lease.key, {
        ...(keepsLease ? entry : { leaseUntilMs: 0, failures: 0, retryAtMs: 0 }),
        token: outcome.token,
        version: randomUUID(),
      });
      return;
    }
    if (!entry || entry.owner !== lease.owner) return;
    if (outcome.kind === 'abandoned') {
      this.write(lease.key, { ...entry, leaseUntilMs: 0, owner: undefined } as Entry);
      return;
    }
    const failure = recordFailure(lease.priorFailures, outcome.error, this.now(), this.random);
    this.write(lease.key, { ...entry, ...failure, leaseUntilMs: 0, owner: undefined } as Entry);
  }

  async store(key: string, token: CachedToken): Promise<void> {
    const { evictedBy: _paid, ...entry } = this.live(key) ?? { leaseUntilMs: 0, failures: 0, retryAtMs: 0 };
    this.write(key, { ...entry, token, version: randomUUID() });
  }

  async evict(key: string, version: string, evictedBy: string): Promise<boolean> {
    const entry = this.entries.get(key);
    if (!entry || entry.version !== version) return false;
    const { token: _token, version: _version, ...rest } = entry;
    this.entries.set(key, { ...rest, evictedBy });
    return true;
  }

  /** The entry, without a token that has expired; undefined when nothing is left of it. */
  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry?.token || entry.token.expiresAt * 1000 > this.now()) return entry;
    const { token: _expired, version: _version, ...rest } = entry;
    this.entries.set(key, rest);
    return rest;
  }

  private write(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }
}
