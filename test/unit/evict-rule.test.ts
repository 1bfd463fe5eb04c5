import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  claimStands,
  EVICT_CLAIM_MS,
  type EvictWrite,
  FLOOR_GRACE_SECONDS,
  floorAfterEvict,
  mayClaimEvict,
  mayWriteBack,
  whatConfirmLeaves,
  whatEvictLeaves,
  whatEvictLeavesOverCorrupt,
} from '../../lambda/cache/evict-rule';
import type { EvictedToken } from '../../lambda/cache/shared-tier';
import type { ParsedItem } from '../../lambda/cache/table-item';
import { TOKEN_ITEM } from '../../lambda/contracts/token-table';

const NOW_MS = 1_800_000_000_000;
const NOW_S = NOW_MS / 1000;

/** An item holding a token issued `issuedAt`, as a tier read it. */
const holding = (issuedAt: number, extra: Partial<ParsedItem> = {}): ParsedItem => ({
  version: `v-${issuedAt}`,
  issuedAt,
  expiresAt: issuedAt + 3600,
  ttlSeconds: issuedAt + 3600,
  sealed: new Uint8Array([1]),
  provider: 'p',
  generation: 3,
  floor: 0,
  failures: 0,
  ...extra,
});

const evictionOf = (item: ParsedItem, region?: string): EvictedToken => ({
  version: item.version as string,
  issuedAt: item.issuedAt as number,
  expiresAt: item.expiresAt as number,
  ...(region === undefined ? {} : { region }),
});

/** The item as the table holds it once an evict's write applied (what the tier's update expression does). */
function applied(item: ParsedItem | undefined, leaves: EvictWrite, evictedBy = 'caller'): ParsedItem {
  const after: Record<string, unknown> = { generation: 0, floor: 0, failures: 0, ...item };
  const parsedName: Record<string, string> = {
    [TOKEN_ITEM.version]: 'version',
    [TOKEN_ITEM.issuedAt]: 'issuedAt',
    [TOKEN_ITEM.sealed]: 'sealed',
    [TOKEN_ITEM.provider]: 'provider',
    [TOKEN_ITEM.tokenExpiresAt]: 'expiresAt',
  };
  for (const name of leaves.remove) delete after[parsedName[name] ?? name];
  return {
    ...(after as unknown as ParsedItem),
    issuedFloor: leaves.issuedFloor,
    evictedBy,
    ...(leaves.generationFloor === undefined ? {} : { floor: leaves.generationFloor }),
    ...(leaves.ttlSeconds === undefined ? {} : { ttlSeconds: leaves.ttlSeconds }),
  };
}

describe('Function: whatEvictLeaves', () => {
  it('one region: the named token goes, its generation floor rises past it, and its issuedAt is the floor', () => {
    // Prepare
    const item = holding(NOW_S - 100);
    // Act
    const leaves = whatEvictLeaves(item, evictionOf(item), false);
    // Assess
    assert.deepEqual(leaves, {
      issuedFloor: NOW_S - 100,
      generationFloor: 4,
      remove: [
        TOKEN_ITEM.sealed,
        TOKEN_ITEM.clearToken,
        TOKEN_ITEM.clearScope,
        TOKEN_ITEM.issuedAt,
        TOKEN_ITEM.version,
        TOKEN_ITEM.provider,
      ],
    });
  });

  it('refuses a token that is not the item’s: another version, another issuedAt, none, or a peer without regions', () => {
    const item = holding(NOW_S - 100);
    const named = evictionOf(item);
    assert.equal(whatEvictLeaves(item, { ...named, version: 'other' }, false), undefined);
    assert.equal(whatEvictLeaves(item, { ...named, issuedAt: named.issuedAt + 1 }, false), undefined);
    assert.equal(whatEvictLeaves(undefined, named, false), undefined);
    assert.equal(whatEvictLeaves(item, { ...named, region: 'eu-west-1' }, false), undefined);
    assert.equal(whatEvictLeaves({ ...item, version: undefined }, named, true), undefined);
  });

  it('never lowers an issued floor an earlier evict left later (clocks of containers differ)', () => {
    const item = holding(NOW_S - 100, { issuedFloor: NOW_S - 50 });
    assert.equal(whatEvictLeaves(item, evictionOf(item), false)?.issuedFloor, NOW_S - 50);
  });

  it('regions: a peer token is evicted by the floor alone, once, and the TTL outlives it', () => {
    const own = holding(NOW_S - 500);
    const peer: EvictedToken = {
      version: 'peer',
      issuedAt: NOW_S - 100,
      expiresAt: NOW_S + 3500,
      region: 'w',
    };
    const leaves = whatEvictLeaves(own, peer, true);
    // The own token, issued before the peer's, is covered: it goes in the same write.
    assert.equal(leaves?.issuedFloor, NOW_S - 100);
    assert.equal(leaves?.generationFloor, 4);
    assert.equal(leaves?.ttlSeconds, NOW_S + 3500 + FLOOR_GRACE_SECONDS);
    assert.ok(leaves?.remove.includes(TOKEN_ITEM.tokenExpiresAt));
    // A floor already at the peer token: another caller's evict applied first.
    assert.equal(whatEvictLeaves({ ...own, issuedFloor: NOW_S - 100 }, peer, true), undefined);
  });

  it('regions: an own token issued after the evicted peer token stays', () => {
    const own = holding(NOW_S - 10);
    const peer: EvictedToken = {
      version: 'peer',
      issuedAt: NOW_S - 100,
      expiresAt: NOW_S + 3500,
      region: 'w',
    };
    const leaves = whatEvictLeaves(own, peer, true);
    assert.equal(leaves?.generationFloor, undefined);
    assert.deepEqual(leaves?.remove, []);
  });
});

describe('Function: floorAfterEvict', () => {
  it('keeps the later floor and the later TTL', () => {
    const evicted: EvictedToken = { version: 'v', issuedAt: 100, expiresAt: 200.5 };
    assert.deepEqual(floorAfterEvict({}, evicted), {
      issuedFloor: 100,
      ttlSeconds: 201 + FLOOR_GRACE_SECONDS,
    });
    assert.deepEqual(floorAfterEvict({ issuedFloor: 150, ttlSeconds: 99_999 }, evicted), {
      issuedFloor: 150,
      ttlSeconds: 99_999,
    });
  });
});

describe('Function: whatEvictLeavesOverCorrupt', () => {
  it('removes what was bad and any own token, keeps a sound floor and TTL', () => {
    const evicted: EvictedToken = { version: 'p', issuedAt: 100, expiresAt: 200, region: 'w' };
    const leaves = whatEvictLeavesOverCorrupt(
      { corrupt: [TOKEN_ITEM.owner], remains: { ...holding(50), issuedFloor: 120, ttlSeconds: 90_000 } },
      evicted,
    );
    assert.equal(leaves.issuedFloor, 120);
    assert.equal(leaves.ttlSeconds, 90_000);
    assert.ok(leaves.remove.includes(TOKEN_ITEM.owner));
    assert.ok(leaves.remove.includes(TOKEN_ITEM.version));
    assert.ok(!leaves.remove.includes(TOKEN_ITEM.expiresAt), 'the TTL is written, not removed');
  });

  it('drops the floor with a bad TTL: nothing tells how long it is needed', () => {
    const evicted: EvictedToken = { version: 'p', issuedAt: 100, expiresAt: 200, region: 'w' };
    const leaves = whatEvictLeavesOverCorrupt(
      {
        corrupt: [TOKEN_ITEM.expiresAt],
        remains: { ...holding(50), issuedFloor: 120, ttlSeconds: undefined },
      },
      evicted,
    );
    assert.equal(leaves.issuedFloor, 100);
    assert.equal(leaves.ttlSeconds, 200 + FLOOR_GRACE_SECONDS);
  });
});

describe('Function: mayWriteBack', () => {
  const copy = (issuedAt: number) => ({ accessToken: 'kept', issuedAt, expiresAt: issuedAt + 3600 });

  it('takes a kept token back onto an absent item, or one with only a lapsed lease or a backoff', () => {
    assert.equal(mayWriteBack(undefined, copy(NOW_S), NOW_MS), true);
    const lapsed = {
      generation: 1,
      floor: 0,
      failures: 2,
      leaseUntilMs: NOW_MS - 1,
      retryAtMs: NOW_MS + 5000,
    };
    assert.equal(mayWriteBack(lapsed, copy(NOW_S), NOW_MS), true);
  });

  it('refuses an item with a live token or a live lease: someone else’s answer is there or coming', () => {
    assert.equal(mayWriteBack(holding(NOW_S - 10), copy(NOW_S), NOW_MS), false);
    const leased = { generation: 1, floor: 0, failures: 0, leaseUntilMs: NOW_MS + 5000, owner: 'other' };
    assert.equal(mayWriteBack(leased, copy(NOW_S), NOW_MS), false);
    // An expired token on the item is none.
    assert.equal(mayWriteBack(holding(NOW_S - 4000), copy(NOW_S), NOW_MS), true);
  });

  it('refuses a token no later than an evicted one, and any token over an evict of before issued floors', () => {
    const evicted = { generation: 2, floor: 3, failures: 0, evictedBy: 'caller', issuedFloor: NOW_S - 100 };
    assert.equal(mayWriteBack(evicted, copy(NOW_S - 100), NOW_MS), false);
    assert.equal(mayWriteBack(evicted, copy(NOW_S - 99), NOW_MS), true);
    const { issuedFloor: _floor, ...ofOld } = evicted;
    assert.equal(mayWriteBack(ofOld, copy(NOW_S), NOW_MS), false);
  });

  it('never puts back a token an evict took off the item, nor one issued before it (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: NOW_S - 80_000, max: NOW_S - 1 }),
        fc.option(fc.integer({ min: NOW_S - 90_000, max: NOW_S }), { nil: undefined }),
        fc.integer({ min: 0, max: 80_000 }),
        fc.boolean(),
        (issuedAt, earlierFloor, olderBy, regional) => {
          const item = holding(issuedAt, {
            expiresAt: NOW_S + 3600,
            ...(earlierFloor === undefined ? {} : { issuedFloor: earlierFloor }),
          });
          const leaves = whatEvictLeaves(item, evictionOf(item), regional);
          assert.ok(leaves);
          const after = applied(item, leaves);
          assert.equal(mayWriteBack(after, copy(issuedAt), NOW_MS), false);
          assert.equal(mayWriteBack(after, copy(issuedAt - olderBy), NOW_MS), false);
          assert.ok(after.issuedFloor !== undefined && after.issuedFloor >= (earlierFloor ?? issuedAt));
        },
      ),
    );
  });
});

describe('Function: claimStands', () => {
  const claimed = (untilMs: number) => ({ evictClaim: 'c', evictClaimUntilMs: untilMs });

  it('stands until it lapses, and never for its own evict', () => {
    assert.equal(claimStands(undefined, NOW_MS), false);
    assert.equal(claimStands({}, NOW_MS), false);
    assert.equal(claimStands(claimed(NOW_MS + EVICT_CLAIM_MS), NOW_MS), true);
    assert.equal(claimStands(claimed(NOW_MS + 1), NOW_MS), true);
    assert.equal(claimStands(claimed(NOW_MS), NOW_MS), false, 'lapsed');
    assert.equal(claimStands(claimed(NOW_MS + 1), NOW_MS, 'c'), false, 'its own');
  });

  it('ignores a claim standing longer than a claim is written for, or with no end', () => {
    assert.equal(claimStands(claimed(NOW_MS + EVICT_CLAIM_MS + 1), NOW_MS), false);
    assert.equal(claimStands({ evictClaim: 'c' }, NOW_MS), false);
  });
});

describe('Function: mayClaimEvict', () => {
  it('claims the named token only while no other claim stands on its item', () => {
    const item = holding(NOW_S - 100);
    assert.equal(mayClaimEvict(item, evictionOf(item), false, NOW_MS), true);
    const claimed = { ...item, evictClaim: 'other', evictClaimUntilMs: NOW_MS + 1000 };
    assert.equal(mayClaimEvict(claimed, evictionOf(item), false, NOW_MS), false);
    assert.equal(mayClaimEvict(claimed, evictionOf(item), false, NOW_MS + 1000), true, 'once it lapsed');
  });

  it('claims nothing an evict would not apply to', () => {
    const item = holding(NOW_S - 100);
    assert.equal(mayClaimEvict(item, { ...evictionOf(item), version: 'another' }, false, NOW_MS), false);
    assert.equal(mayClaimEvict(undefined, evictionOf(item), false, NOW_MS), false);
  });
});

describe('Function: whatConfirmLeaves', () => {
  it('evicts for the claim the item carries, as the evict rule says, and for no other', () => {
    const item = holding(NOW_S - 100, { evictClaim: 'ours', evictClaimUntilMs: NOW_MS + 1000 });
    for (const regional of [false, true]) {
      assert.deepEqual(
        whatConfirmLeaves(item, 'ours', evictionOf(item), regional),
        whatEvictLeaves(item, evictionOf(item), regional),
      );
      assert.equal(whatConfirmLeaves(item, 'theirs', evictionOf(item), regional), undefined);
    }
    const { evictClaim: _claim, ...withdrawn } = item;
    assert.equal(whatConfirmLeaves(withdrawn, 'ours', evictionOf(item), false), undefined);
  });

  it('evicts nothing once the claimed token was renewed, even for its claim', () => {
    const claimed = holding(NOW_S - 100, { evictClaim: 'ours', evictClaimUntilMs: NOW_MS + 1000 });
    const renewed = { ...holding(NOW_S - 1), evictClaim: 'ours', evictClaimUntilMs: NOW_MS + 1000 };
    assert.equal(whatConfirmLeaves(renewed, 'ours', evictionOf(claimed), false), undefined);
  });

  it('of evictors of one token, the one whose claim is written is the only one that evicts (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: EVICT_CLAIM_MS - 1 }),
        fc.boolean(),
        (evictors, winnerIndex, elapsedMs, regional) => {
          const item = holding(NOW_S - 100);
          const winner = winnerIndex % evictors;
          assert.ok(mayClaimEvict(item, evictionOf(item), regional, NOW_MS));
          const claimed = {
            ...item,
            evictClaim: `claim-${winner}`,
            evictClaimUntilMs: NOW_MS + EVICT_CLAIM_MS,
          };
          for (let index = 0; index < evictors; index++) {
            assert.equal(mayClaimEvict(claimed, evictionOf(item), regional, NOW_MS + elapsedMs), false);
            const leaves = whatConfirmLeaves(claimed, `claim-${index}`, evictionOf(item), regional);
            assert.equal(leaves !== undefined, index === winner);
          }
        },
      ),
    );
  });
});
