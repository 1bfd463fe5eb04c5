import { MAX_RETRY_AFTER_MS } from '../backoff-policy';
import type { ErrorCode } from '../errors';

/**
 * The lease rule, written once: what an item's lease fields mean at a moment. Both tiers (DynamoDB and
 * in-process) persist these fields and ask this function what they mean; neither decides on its own.
 */

/** No lease lasts longer: one upstream budget and 2 s for the table. A stored lease beyond it is not ours. */
export const MAX_LEASE_MS = 12_000;
/**
 * No backoff lasts longer: a provider's own Retry-After, capped (see backoff-policy), is the longest; the
 * backoff's own steps end at 30 s. A stored backoff beyond it is not ours.
 */
export const MAX_BACKOFF_MS = MAX_RETRY_AFTER_MS;

/** An item's lease fields, as a tier read them; absent ones are undefined. */
export interface LeaseFields {
  readonly leaseUntilMs?: number;
  readonly retryAtMs?: number;
  readonly lastError?: ErrorCode;
  /** The token's version on the item. */
  readonly version?: string;
}

export type LeaseStanding =
  /** Someone fetches; its lease ends at `leaseUntilMs`. */
  | { readonly kind: 'held'; readonly leaseUntilMs: number }
  /** The provider failed repeatedly; nobody asks it again before `retryAtMs`. */
  | { readonly kind: 'backing_off'; readonly retryAtMs: number; readonly lastError: ErrorCode }
  /** The token is no longer the one the caller saw. */
  | { readonly kind: 'superseded' }
  /** The caller may take the lease. */
  | { readonly kind: 'free' };

/** A time in (now, now + bound]: live. At or before now it has passed; beyond the bound nobody wrote it. */
const live = (atMs: number | undefined, nowMs: number, boundMs: number): atMs is number =>
  atMs !== undefined && Number.isFinite(atMs) && atMs > nowMs && atMs <= nowMs + boundMs;

/**
 * What the item means to a caller that saw the token of `seenVersion` (undefined: it saw none), at `nowMs`.
 * A backoff comes first (nobody asks a failing provider, whoever holds what), then a live lease, then a
 * token changed since the caller read it.
 */
export function classifyLease(
  fields: LeaseFields,
  seenVersion: string | undefined,
  nowMs: number,
): LeaseStanding {
  if (live(fields.retryAtMs, nowMs, MAX_BACKOFF_MS)) {
    return {
      kind: 'backing_off',
      retryAtMs: fields.retryAtMs,
      lastError: fields.lastError ?? 'upstream_unavailable',
    };
  }
  if (live(fields.leaseUntilMs, nowMs, MAX_LEASE_MS))
    return { kind: 'held', leaseUntilMs: fields.leaseUntilMs };
  if (fields.version !== seenVersion) return { kind: 'superseded' };
  return { kind: 'free' };
}

/** The lease a holder may take: never beyond {@link MAX_LEASE_MS}, whatever it asks. */
export const boundedLeaseMs = (leaseMs: number): number => Math.max(1, Math.min(leaseMs, MAX_LEASE_MS));
