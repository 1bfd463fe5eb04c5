import type { UpstreamBudget } from './budget/upstream-budget';
import type { Lease, SharedTier } from './cache/shared-tier';
import type { TokenStore } from './cache/token-store';
import type { CredentialSource } from './credentials/client-credentials';
import { VendError } from './errors';
import type { KnownLifetimes } from './known-lifetimes';
import { grantedBeyondRequest } from './oauth/granted-scope';
import type { TokenClient } from './oauth/token-client';
import type { VendContext } from './vend-context';
import type { VendOutcome } from './vend-outcome';

/**
 * Asks the provider under a lease, then gives the lease back with the answer: the token (stored, with a new
 * version, however short it is, so that callers waiting on the lease get it) or the failure (so that they
 * share it instead of each asking in turn).
 */
export class UpstreamGrant {
  constructor(
    private readonly parts: {
      readonly credentials: CredentialSource;
      readonly tokenClient: TokenClient;
      readonly tier: SharedTier;
      readonly memory: TokenStore;
      readonly lifetimes: KnownLifetimes;
      readonly budget: UpstreamBudget;
      readonly now: () => number;
    },
  ) {}

  async fetch(context: VendContext, lease: Lease, cache: 'miss' | 'refresh'): Promise<VendOutcome> {
    const { provider, selectors, key, freshness } = context;
    const { credentials, tokenClient, tier, memory, lifetimes, budget } = this.parts;
    try {
      // After an eviction, the evicting caller has paid for this renewal, not the one whose vend makes it.
      await budget.charge(context.principal, provider, lease.paidBy === undefined ? 'charged' : 'prepaid');
    } catch (error) {
      // This caller's budget is not the waiters' failure: the lease is freed for them to try their own.
      await tier.release(lease, { kind: 'abandoned' });
      throw error;
    }
    let result: Awaited<ReturnType<TokenClient['requestToken']>>;
    try {
      const secret = await credentials.get(provider.secretId);
      result = await tokenClient.requestToken({ provider, credentials: secret, ...selectors });
    } catch (error) {
      await tier.release(lease, {
        kind: 'failed',
        error: error instanceof VendError ? error.code : 'internal_error',
      });
      // The secret may have rotated since it was cached: read it afresh next time.
      if (error instanceof VendError && error.details.upstreamError === 'invalid_client') {
        credentials.invalidate(provider.secretId);
      }
      throw error;
    }
    const { token, upstream } = result;
    const beyond = grantedBeyondRequest(token, selectors, provider.extraGrantedScopes);
    if (beyond) {
      // Never cached, never served: the caller would hold more than it may ask for.
      await tier.release(lease, { kind: 'failed', error: 'upstream_invalid_response' });
      throw new VendError(
        'upstream_invalid_response',
        `Provider "${provider.id}" granted more than was asked: ${beyond}.`,
      );
    }
    lifetimes.record(context, token);
    if (freshness.isWorthCaching(token, this.parts.now() / 1000)) {
      await memory.put(key, token, { providerId: provider.id });
    }
    await tier.release(lease, { kind: 'succeeded', token, providerId: provider.id });
    return { token, cache, upstream };
  }
}
