import type { ErrorCode } from '../errors';
import type { CachedToken } from './token-store';

/**
 * Who may ask the provider for a key's token right now. Across containers only one holds the lease; the
 * others wait for its token in the table. After repeated failures the provider is left alone for a while.
 */
export type LeaseResult =
  | { readonly kind: 'acquired'; readonly lease: Lease }
  /** Another instance is fetching; its lease ends at `leaseUntilMs` (then, if it died, anyone may take over). */
  | { readonly kind: 'held'; readonly leaseUntilMs: number }
  /** The provider failed repeatedly; nobody asks it again before `retryAtMs`. */
  | { readonly kind: 'backoff'; readonly retryAtMs: number; readonly lastError: ErrorCode }
  /** The token changed since the caller read it (another instance renewed or evicted it): look again. */
  | { readonly kind: 'superseded'; readonly token?: CachedToken };

export interface Lease {
  readonly key: string;
  readonly owner: string;
  /** Consecutive counted failures before this lease was taken. */
  readonly priorFailures: number;
}

/** How a lease ends. Only failures that say the provider is unwell count towards backing off. */
export type LeaseOutcome =
  /** With the token to store, where the coordinator keeps tokens too. */
  | {
      readonly kind: 'succeeded';
      readonly stored?: { readonly token: CachedToken; readonly providerId: string };
    }
  | { readonly kind: 'failed'; readonly error: ErrorCode; readonly counts: boolean };

/** What a waiting caller needs to know about someone else's lease. */
export interface LeaseState {
  readonly leaseUntilMs: number;
  /** When the last holder gave the lease back after a failure, and which. */
  readonly failedAtMs?: number;
  readonly lastError?: ErrorCode;
  /** The token beside the lease, where the coordinator keeps tokens too. */
  readonly token?: CachedToken;
}

export interface FetchCoordinator {
  /** Takes the key's lease unless it is held, backing off, or the token is no longer `seen`. */
  acquire(key: string, leaseMs: number, seen?: CachedToken): Promise<LeaseResult>;
  release(lease: Lease, outcome: LeaseOutcome): Promise<void>;
  /** The key's lease as it stands, without taking it; undefined when there is none. */
  peek(key: string): Promise<LeaseState | undefined>;
}

/** Failures in a row before the provider is left alone. */
export const FAILURE_THRESHOLD = 3;
const MAX_BACKOFF_MS = 30_000;

/** After the `failures`-th failure in a row: when may anyone ask the provider again (0: at once). */
export function backoffUntil(failures: number, nowMs: number, random: () => number = Math.random): number {
  if (failures < FAILURE_THRESHOLD) return 0;
  const ceiling = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - FAILURE_THRESHOLD));
  // Half fixed, half jitter: containers that saw the same failure do not all come back at once.
  return nowMs + Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/** Upstream faults that say the provider is unwell; a refusal or a malformed answer is not retried by waiting. */
export const countsTowardsBackoff = (error: ErrorCode): boolean =>
  error === 'upstream_unavailable' || error === 'upstream_timeout';

interface LocalState {
  leaseUntilMs: number;
  owner?: string;
  failures: number;
  retryAtMs: number;
  lastError?: ErrorCode;
  failedAtMs?: number;
}

/**
 * The coordinator of one process, for a service without a table (and as the fallback when the table fails):
 * in-process single flight already makes one request per key, so this only keeps the backoff.
 */
export class InProcessCoordinator implements FetchCoordinator {
  private readonly states = new Map<string, LocalState>();
  private sequence = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  async acquire(key: string, leaseMs: number): Promise<LeaseResult> {
    const nowMs = this.now();
    const state = this.states.get(key) ?? { leaseUntilMs: 0, failures: 0, retryAtMs: 0 };
    if (state.retryAtMs > nowMs) {
      return {
        kind: 'backoff',
        retryAtMs: state.retryAtMs,
        lastError: state.lastError ?? 'upstream_unavailable',
      };
    }
    if (state.leaseUntilMs > nowMs) return { kind: 'held', leaseUntilMs: state.leaseUntilMs };
    const owner = `local-${++this.sequence}`;
    this.states.set(key, { ...state, leaseUntilMs: nowMs + leaseMs, owner });
    return { kind: 'acquired', lease: { key, owner, priorFailures: state.failures } };
  }

  async release(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    const state = this.states.get(lease.key);
    if (!state || state.owner !== lease.owner) return;
    if (outcome.kind === 'succeeded') {
      this.states.delete(lease.key);
      return;
    }
    const failures = outcome.counts ? lease.priorFailures + 1 : lease.priorFailures;
    this.states.set(lease.key, {
      leaseUntilMs: 0,
      failures,
      retryAtMs: outcome.counts ? backoffUntil(failures, this.now(), this.random) : 0,
      lastError: outcome.error,
      failedAtMs: this.now(),
    });
  }

  async peek(key: string): Promise<LeaseState | undefined> {
    const state = this.states.get(key);
    if (!state) return undefined;
    return {
      leaseUntilMs: state.leaseUntilMs,
      ...(state.failedAtMs === undefined ? {} : { failedAtMs: state.failedAtMs }),
      ...(state.lastError === undefined ? {} : { lastError: state.lastError }),
    };
  }
}
