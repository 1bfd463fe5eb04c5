import { BoundedMap } from '../bounded-map';
import type { Clock } from '../clock';
import { EVENTS } from '../contracts/metrics';
import type { Log } from '../logging';
import type { CachedToken } from '../model';
import { servablePeerTokens } from './peer-rule';
import { tokenToOpen, whatReadReports } from './read-rule';
import type { PeerItem } from './regional-read';
import type { PeerToken, TierItem } from './shared-tier';
import type { ParsedItem } from './table-item';
import { SealError, SealingUnavailableError, type TokenSealer } from './token-sealer';

/**
 * The tokens a table read serves: the own item's and the other regions' opened, as the read rule and the
 * peer rule name them, and the item reported as the read rule says. A token that does not open is a miss,
 * reported; a peer token the key service cannot open now is passed over, reported once per region.
 */
export class TokenReads {
  /** Regions whose token this container could not open (key service failing) and said so: once each. */
  private readonly reportedUnopened = new BoundedMap<string, true>(100);

  constructor(
    private readonly sealer: TokenSealer,
    private readonly clock: Clock,
    private readonly log: Log | undefined,
  ) {}

  /** What a read reports of the own item, with the token it serves: the own one, or a peer's that outlives it. */
  async tierItemOf(
    key: string,
    item: ParsedItem | undefined,
    peers: readonly PeerItem[] = [],
  ): Promise<TierItem> {
    const own = item ? await this.tokenOf(key, item) : undefined;
    const fromPeer = await this.longerPeerToken(key, item, peers, own?.expiresAt ?? 0);
    return whatReadReports(
      item,
      { token: fromPeer?.token ?? own, ...(fromPeer ? { peer: fromPeer.peer } : {}) },
      this.clock.now(),
    );
  }

  /**
   * The item's token, opened; undefined when there is none, it has expired (TTL deletes late), it is below
   * the item's floor (evicted, then put back), or it does not open (copied from another key, tampered with,
   * or sealed by another key): such a token is a miss, never served and never an error. A key service that
   * cannot open it is {@link SealingUnavailableError}: nothing is known about the token. Which other
   * regions' tokens are asked about at all is {@link servablePeerTokens}'s to say.
   */
  private async tokenOf(key: string, item: ParsedItem): Promise<CachedToken | undefined> {
    const found = tokenToOpen(item, this.clock.now());
    if (found.kind === 'none') return undefined;
    try {
      if (found.kind === 'refused') throw new SealError(found.reason);
      const { providerId, generation } = found;
      return await this.sealer.open(found.sealed, found.times, { key, providerId, generation });
    } catch (error) {
      if (!(error instanceof SealError)) throw error;
      this.log?.warn('a sealed token in the table does not open; treated as a miss', {
        event: EVENTS.sealedTokenRejected,
        provider: found.providerId,
        reason: error.message,
      });
      return undefined;
    }
  }

  /**
   * The longest-lived token of the other regions' items that outlives `thanExpiresAt` and opens: not one
   * issued at or before the own item's issued floor (an evict here), nor one below its own item's floor.
   * Only tokens that would win are opened. One the key service cannot open now is passed over (the next
   * candidate, else the own token, is served): a peer's token is an extra, never a reason to fail a read.
   */
  private async longerPeerToken(
    key: string,
    own: ParsedItem | undefined,
    peers: readonly PeerItem[],
    thanExpiresAt: number,
  ): Promise<{ token: CachedToken; peer: PeerToken } | undefined> {
    for (const { region, item } of servablePeerTokens(own, peers, thanExpiresAt)) {
      let token: CachedToken | undefined;
      try {
        token = await this.tokenOf(key, item);
      } catch (error) {
        if (!(error instanceof SealingUnavailableError)) throw error;
        if (!this.reportedUnopened.get(region)) {
          this.reportedUnopened.set(region, true);
          this.log?.warn("another region's token could not be opened now; this region's own is served", {
            event: EVENTS.peerTokenUnopened,
            peer_region: region,
            reason: error.message,
          });
        }
        continue;
      }
      if (token) this.reportedUnopened.delete(region);
      if (token && item.version) return { token, peer: { region, version: item.version } };
    }
    return undefined;
  }
}
