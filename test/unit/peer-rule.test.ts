import assert from 'node:assert/strict';
import { servablePeerTokens } from '../../lambda/cache/peer-rule';
import type { ParsedItem } from '../../lambda/cache/table-item';

const item = (issuedAt: number, expiresAt: number, extra: Partial<ParsedItem> = {}): ParsedItem => ({
  version: `v-${issuedAt}-${expiresAt}`,
  issuedAt,
  expiresAt,
  generation: 1,
  floor: 0,
  failures: 0,
  ...extra,
});
const regions = (peers: Array<[string, ParsedItem]>) =>
  peers.map(([region, peer]) => ({ region, item: peer }));

describe('Function: servablePeerTokens', () => {
  it('serves a peer token only when it outlives the own one, longest-lived first', () => {
    // Prepare
    const peers = regions([
      ['a', item(100, 4000)],
      ['b', item(200, 5000)],
      ['c', item(300, 3000)],
    ]);
    // Act
    const servable = servablePeerTokens(item(150, 3500), peers, 3500);
    // Assess
    assert.deepEqual(
      servable.map((peer) => peer.region),
      ['b', 'a'],
    );
  });

  it('passes over a peer token issued at or before the own item’s issued floor (an evict here covers it)', () => {
    const peers = regions([
      ['a', item(100, 9000)],
      ['b', item(101, 8000)],
    ]);
    const own = { generation: 2, floor: 2, failures: 0, issuedFloor: 100 };
    assert.deepEqual(
      servablePeerTokens(own, peers, 0).map((peer) => peer.region),
      ['b'],
    );
  });

  it('passes over a peer item without a token (only a lease, or evicted there), and keeps the given order on a tie', () => {
    const peers = regions([
      ['a', item(100, 9000, { version: undefined })],
      ['b', item(100, 7000)],
      ['c', item(120, 7000)],
    ]);
    assert.deepEqual(
      servablePeerTokens(undefined, peers, 0).map((peer) => peer.region),
      ['b', 'c'],
    );
  });
});
