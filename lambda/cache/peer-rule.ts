import type { ParsedItem } from './table-item';

/**
 * The peer rule, written once: what another region's replicated item of the key means in this region. The
 * DynamoDB tier reads the items and opens the tokens these functions name; they decide nothing else.
 */

/**
 * The other regions' items whose token may be served here instead of the own one, best first: a token
 * (a version) that outlives `thanExpiresAt` (the own token's expiry, or 0 without one), issued after the own
 * item's issued floor (an evict here covers every token of the key issued no later). Longest-lived first;
 * on a tie the order the regions were given in.
 */
export function servablePeerTokens<Peer extends { readonly item: ParsedItem }>(
  own: ParsedItem | undefined,
  peers: readonly Peer[],
  thanExpiresAt: number,
): Peer[] {
  const issuedFloor = own?.issuedFloor;
  return peers
    .filter(
      ({ item }) =>
        item.version !== undefined &&
        (item.expiresAt ?? 0) > thanExpiresAt &&
        (issuedFloor === undefined || (item.issuedAt ?? 0) > issuedFloor),
    )
    .sort((first, second) => (second.item.expiresAt ?? 0) - (first.item.expiresAt ?? 0));
}
