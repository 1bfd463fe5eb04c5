import { BoundedMap } from '../bounded-map';
import type { SealedPrincipals } from '../budget/caller-counter-names';
import type { Clock } from '../clock';
import type { TableRegions } from '../contracts/region-owned-items';
import type { Log } from '../logging';
import type { CachedToken } from '../model';
import type { VendContext } from '../vend-context';
import { IndexBypassed, type InUseIndex, type InUseMark, markFields } from './in-use-index';
import type { MarkAuthenticator } from './mark-authenticator';
import type { RenewalQueue } from './renewal-queue';

/**
 * A renewal starts this long before the request path would renew: the queue's delivery (SQS's delays are
 * kept to about a second) and taking the lease fit in it. Callers that come while the renewal is with the
 * provider find the lease held and are served the still-valid token: they do not wait for it.
 */
export const RENEW_LEAD_SECONDS = 5;
/**
 * With several regions, each region but the last (in name order) renews this much earlier than the next:
 * the later region then reads the earlier one's renewed token (replicated in about a second) and leaves
 * the key alone, so the provider is not asked by both at once.
 */
export const REGION_STAGGER_SECONDS = 5;

/** How long before the request path's refresh point this region renews. */
export function renewalLeadSeconds(regions?: TableRegions): number {
  if (!regions) return RENEW_LEAD_SECONDS;
  const all = [regions.own, ...regions.peers].sort();
  return RENEW_LEAD_SECONDS + (all.length - 1 - all.indexOf(regions.own)) * REGION_STAGGER_SECONDS;
}

export interface InUseMarkerParts {
  readonly index: InUseIndex;
  /** Where a mark due before the next refresher run could hand it over goes at once, delayed to its time. */
  readonly queue: RenewalQueue;
  /** The mark's principal is stored sealed: the table holds no principal ARNs. */
  readonly principals: SealedPrincipals;
  /** Every mark is authenticated whole. */
  readonly marks: MarkAuthenticator;
  readonly clock: Clock;
  readonly log: Log;
  /** Marks due within this many seconds go to the queue, later ones to the index. */
  readonly horizonSeconds: number;
  /** How long before the request path's refresh point the key is renewed. @default RENEW_LEAD_SECONDS */
  readonly leadSeconds?: number;
  /** Keys this container remembers having marked. @default 1000 */
  readonly maxKeys?: number;
}

/**
 * Marks a key in use the first time this container serves each of its tokens from the table or the
 * provider (never on a memory hit): at most one write per key per token lifetime per container. The mark
 * falls due just before the request path would renew the token ({@link RENEW_LEAD_SECONDS}); one due within
 * the refresher's horizon is sent to the renewal queue as a delayed message (a renewal timed to the token,
 * however short), a later one is written to the index, where a refresher run finds it in time.
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
    const renewAt = context.freshness.refreshDueAt(token) - (this.parts.leadSeconds ?? RENEW_LEAD_SECONDS);
    if (renewAt <= nowSeconds) return;
    try {
      const fields = {
        key: context.key,
        providerId: context.provider.id,
        scopes: context.selectors.scopes,
        ...(context.selectors.audience === undefined ? {} : { audience: context.selectors.audience }),
        principal: await this.parts.principals.seal(context.principal),
        inUseUntil: nowSeconds + (token.expiresAt - token.issuedAt),
        renewAt,
        expiresAt: token.expiresAt,
      };
      const mark: InUseMark = { ...fields, tag: await this.parts.marks.tag(markFields(fields)) };
      if (renewAt - nowSeconds <= this.parts.horizonSeconds) {
        const refused = await this.parts.queue.send([mark], nowSeconds);
        if (refused.length > 0) throw new Error('the renewal queue refused the mark');
      } else {
        await this.parts.index.mark(mark);
      }
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
