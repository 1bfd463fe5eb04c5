import assert from 'node:assert/strict';
import type { ParsedItem } from '../../lambda/cache/table-item';
import { corruptFloorAndTtl, whatTokenWriteKeeps } from '../../lambda/cache/write-rule';
import { TOKEN_ITEM } from '../../lambda/contracts/token-table';

const token = { accessToken: 't', issuedAt: 1000, expiresAt: 4600 };
const item = (extra: Partial<ParsedItem> = {}): ParsedItem => ({
  generation: 0,
  floor: 0,
  failures: 0,
  ...extra,
});

describe('Function: whatTokenWriteKeeps', () => {
  it('writes the next generation past every token written and every evict’s floor', () => {
    assert.equal(whatTokenWriteKeeps({}, token, { regional: false, lease: 'end lease' }).generation, 1);
    assert.equal(
      whatTokenWriteKeeps({ item: item({ generation: 4, floor: 2 }) }, token, {
        regional: false,
        lease: 'keep lease',
      }).generation,
      5,
    );
    // After an evict (floor past the evicted token's generation) the token written opens.
    assert.equal(
      whatTokenWriteKeeps({ item: item({ generation: 4, floor: 5 }) }, token, {
        regional: false,
        lease: 'keep lease',
      }).generation,
      6,
    );
  });

  it('one region: the TTL is the token’s expiry; an evict’s issued floor stays; the payment and seal failure go', () => {
    const keeps = whatTokenWriteKeeps({ item: item({ ttlSeconds: 99_999, issuedFloor: 900 }) }, token, {
      regional: false,
      lease: 'keep lease',
    });
    assert.equal(keeps.ttlSeconds, 4600);
    assert.equal(keeps.tokenExpiresAt, undefined);
    assert.ok(!keeps.remove.includes(TOKEN_ITEM.issuedFloor));
    assert.ok(keeps.remove.includes(TOKEN_ITEM.evictedBy));
    assert.ok(keeps.remove.includes(TOKEN_ITEM.sealFailedAt));
    assert.ok(!keeps.remove.includes(TOKEN_ITEM.owner), 'keep lease keeps the lease');
  });

  it('regions: the TTL never moves earlier, the token’s expiry is written apart', () => {
    const keeps = whatTokenWriteKeeps({ item: item({ ttlSeconds: 99_999 }) }, token, {
      regional: true,
      lease: 'end lease',
    });
    assert.equal(keeps.ttlSeconds, 99_999);
    assert.equal(keeps.tokenExpiresAt, 4600);
    for (const name of [TOKEN_ITEM.owner, TOKEN_ITEM.leaseUntil, TOKEN_ITEM.failures, TOKEN_ITEM.retryAt])
      assert.ok(keeps.remove.includes(name), `end lease removes ${name}`);
  });

  it('over a corrupt item removes what was bad, never what it writes', () => {
    const keeps = whatTokenWriteKeeps(
      { corrupt: [TOKEN_ITEM.version, TOKEN_ITEM.owner], remains: item({ ttlSeconds: 50_000 }) },
      token,
      { regional: true, lease: 'keep lease' },
    );
    assert.ok(keeps.remove.includes(TOKEN_ITEM.owner));
    assert.ok(!keeps.remove.includes(TOKEN_ITEM.version), 'the version is written');
    assert.equal(keeps.ttlSeconds, 50_000);
  });
});

describe('Function: corruptFloorAndTtl', () => {
  it('keeps a sound TTL and floor; a bad TTL takes the floor with it', () => {
    assert.deepEqual(
      corruptFloorAndTtl({ corrupt: ['owner'], remains: item({ ttlSeconds: 7, issuedFloor: 3 }) }),
      {
        ttlSeconds: 7,
        dropFloor: false,
      },
    );
    assert.deepEqual(
      corruptFloorAndTtl({ corrupt: [TOKEN_ITEM.expiresAt], remains: item({ issuedFloor: 3 }) }),
      { dropFloor: true },
    );
  });
});
