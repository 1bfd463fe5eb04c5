import { BoundedMap } from './bounded-map';
import { VendError } from './errors';
import type { CachedToken } from './model';
import type { VendContext } from './vend-context';

/**
 * The lifetime each key's provider issues, learnt from every token seen (fetched, or read from a cache).
 * A `min_ttl` no token of that key can meet is then refused without asking the provider again.
 */
export class KnownLifetimes {
  private readonly lifetimes: BoundedMap<string, number>;
  /** The last lifetime seen per provider, for callers choosing a `min_ttl` (`GET /v1/providers`). */
  private readonly byProvider = new Map<string, number>();

  constructor(maxEntries = 1000) {
    this.lifetimes = new BoundedMap(maxEntries);
  }

  record(context: Pick<VendContext, 'key' | 'provider'>, token: CachedToken): void {
    const { key } = context;
    this.byProvider.set(context.provider.id, token.expiresAt - token.issuedAt);
    this.lifetimes.set(key, token.expiresAt - token.issuedAt);
  }

  /** The lifetime of the provider's tokens, once one was seen in this container. */
  ofProvider(providerId: string): number | undefined {
    return this.byProvider.get(providerId);
  }

  /** Throws `invalid_request` when the key's tokens are known to be too short for the caller's min_ttl. */
  assertCanMeet(context: VendContext): void {
    // Read without refreshing its place: the oldest recorded lifetime goes first, as it always did.
    const lifetime = this.lifetimes.peek(context.key);
    if (lifetime !== undefined && context.minTtlSeconds !== undefined && context.minTtlSeconds >= lifetime) {
      throw minTtlError(context, lifetime);
    }
  }
}

export const minTtlError = (context: VendContext, lifetime: number): VendError =>
  new VendError(
    'invalid_request',
    `min_ttl ${context.minTtlSeconds} cannot be met: provider "${context.provider.id}" issues tokens valid for ${lifetime} s.`,
  );
