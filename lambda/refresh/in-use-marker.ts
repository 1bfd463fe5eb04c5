import { BoundedMap } from '../bounded-map';
import type { SealedPrincipals } from '../budget/caller-counter-names';
import type { Clock } from '../clock';
import type { Log } from '../logging';
import type { CachedToken } from '../model';
import type { VendContext } from '../vend-context';
import { IndexBypassed, type InUseIndex } from './in-use-index';

export interface InUseMarkerParts {
  readonly index: InUseIndex;
  /** The mark's principal is stored sealed: the table holds no principal ARNs. */
  readonly principals: SealedPrincipals;
  readonly clock: Clock;
  readonly log: Log;
  /** The refresher's period: a token is marked due one period before the request path would renew it. */
  readonly periodSeconds: number;
  /** Keys this container remembers having marked. @default 1000 */
  readonly maxKeys?: number;
}

/**
 * Marks a key in use the first time this container serves each of its tokens from the table or the
 * provider (never on a memory hit): at most one index write per key per token lifetime per container.
 * A token whose request-path refresh point is less than a period away is not marked: it is left to the
 * request path, as before the refresher.
 */
export class InUseMarker {
  /** The expiry of the token each key was last marked (or passed over) for. */
  private readonly marked: BoundedMap<string, number>;

  constructor(private readonly parts: InUseMarkerParts) {
    this.marked = new BoundedMap(parts.maxKeys ?? 1000);
  }

  async vended(context: VendContext, token: CachedToken): Promise<void> {
    if (this.marked.get(context.key) === token.expiresAt) return;
    this.marked.set(context.key, token.expiresAt);
    const nowSeconds = Math.floor(this.parts.clock.now() / 1000);
    const renewAt = context.freshness.refreshDueAt(token) - this.parts.periodSeconds;
    if (renewAt <= nowSeconds) return;
    try {
      await this.parts.index.mark({
        key: context.key,
        providerId: context.provider.id,
        scopes: context.selectors.scopes,
        ...(context.selectors.audience === undefined ? {} : { audience: context.selectors.audience }),
        principal: await this.parts.principals.seal(context.principal),
        inUseUntil: nowSeconds + (token.expiresAt - token.issuedAt),
        renewAt,
        expiresAt: token.expiresAt,
      });
    } catch (error) {
      // A mark that fails costs the key its renewal off the request path, never the vend.
      this.marked.delete(context.key);
      if (error instanceof IndexBypassed) return;
      this.parts.log.warn('could not mark a key in use; it is renewed on the request path', {
        event: 'in_use_mark_failed',
        provider: context.provider.id,
        error: error instanceof Error ? error.name : 'unknown',
      });
    }
  }
}
