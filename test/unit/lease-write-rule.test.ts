import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  itemAfterLease,
  LEASE_ONLY_TTL_SECONDS,
  leaseStillOurs,
  SEAL_FAILURE_NOTICE_MS,
  sealFailureStands,
  whatAbandonLeaves,
  whatFailureLeaves,
  whatLeaseWriteLeaves,
  whatSealFailureLeaves,
} from '../../lambda/cache/lease-write-rule';
import { type ParsedItem, type Reading, TOKEN_ATTRIBUTES } from '../../lambda/cache/table-item';
import { TOKEN_ITEM } from '../../lambda/contracts/token-table';
import { MAX_LEASE_MS } from '../../lambda/lease/lease-rule';

const NOW_MS = 1_800_000_000_000;
const NOW_S = NOW_MS / 1000;

const item = (extra: Partial<ParsedItem> = {}): ParsedItem => ({
  generation: 0,
  floor: 0,
  failures: 0,
  ...extra,
});

/** The attributes a lease's write sets itself. */
const LEASE_WRITES: readonly string[] = [
  TOKEN_ITEM.owner,
  TOKEN_ITEM.leaseUntil,
  TOKEN_ITEM.revision,
  TOKEN_ITEM.expiresAt,
];

const attributeName = fc.constantFrom(...Object.values(TOKEN_ITEM));
/** An item as read: absent, sound, or corrupt in some attributes (with what did read). */
const readings: fc.Arbitrary<Reading> = fc.oneof(
  fc.constant({}),
  fc
    .record({
      failures: fc.nat(5),
      evictedBy: fc.option(fc.constantFrom('caller-a', 'caller-b'), { nil: undefined }),
      ttlSeconds: fc.option(fc.integer({ min: NOW_S - 100_000, max: NOW_S + 100_000 }), { nil: undefined }),
    })
    .map(({ failures, evictedBy, ttlSeconds }) => ({ item: item({ failures, evictedBy, ttlSeconds }) })),
  fc
    .record({
      bad: fc.uniqueArray(attributeName, { minLength: 1, maxLength: 4 }),
      ttlSeconds: fc.option(fc.integer({ min: NOW_S - 100_000, max: NOW_S + 100_000 }), { nil: undefined }),
      issuedFloor: fc.option(fc.nat(NOW_S), { nil: undefined }),
    })
    .map(({ bad, ttlSeconds, issuedFloor }) => ({
      corrupt: bad,
      remains: item({ ttlSeconds, issuedFloor }),
    })),
);

describe('Function: whatLeaseWriteLeaves', () => {
  it('a lease within its bound, the evictor’s payment taken off, nothing it writes also removed', () => {
    fc.assert(
      fc.property(
        readings,
        fc.integer({ min: -5, max: 60_000 }),
        fc.boolean(),
        (reading, leaseMs, regional) => {
          const leaves = whatLeaseWriteLeaves(reading, NOW_MS, leaseMs, { regional });
          assert.ok(leaves.leaseUntilMs > NOW_MS && leaves.leaseUntilMs <= NOW_MS + MAX_LEASE_MS);
          assert.ok(leaves.remove.includes(TOKEN_ITEM.evictedBy));
          for (const name of LEASE_WRITES) assert.ok(!leaves.remove.includes(name), `${name} is written`);
          assert.equal(new Set(leaves.remove).size, leaves.remove.length, 'each attribute once');
          assert.ok(leaves.ttlSeconds >= NOW_S + LEASE_ONLY_TTL_SECONDS - 1);
        },
      ),
    );
  });

  it('a sound item keeps its TTL (written only if absent), its failures and its evictor as payer', () => {
    const leaves = whatLeaseWriteLeaves(
      { item: item({ failures: 2, evictedBy: 'caller-a', ttlSeconds: NOW_S + 5 }) },
      NOW_MS,
      5000,
      { regional: true },
    );
    assert.deepEqual(leaves, {
      leaseUntilMs: NOW_MS + 5000,
      ttlSeconds: NOW_S + LEASE_ONLY_TTL_SECONDS,
      overwriteTtl: false,
      remove: [TOKEN_ITEM.evictedBy],
      priorFailures: 2,
      paidBy: 'caller-a',
    });
  });

  it('a corrupt item loses what was bad and any token; its TTL is overwritten, its failures not counted', () => {
    fc.assert(
      fc.property(readings, fc.boolean(), (reading, regional) => {
        fc.pre(reading.corrupt !== undefined);
        const leaves = whatLeaseWriteLeaves(reading, NOW_MS, 5000, { regional });
        assert.equal(leaves.overwriteTtl, true);
        assert.equal(leaves.priorFailures, 0);
        assert.equal(leaves.paidBy, undefined);
        for (const name of [...(reading.corrupt ?? []), ...TOKEN_ATTRIBUTES])
          if (!LEASE_WRITES.includes(name)) assert.ok(leaves.remove.includes(name), `${name} goes`);
      }),
    );
  });

  it('regions: a corrupt item’s sound TTL never moves earlier, and a bad TTL takes the issued floor with it', () => {
    const later = whatLeaseWriteLeaves(
      { corrupt: [TOKEN_ITEM.owner], remains: item({ ttlSeconds: NOW_S + 90_000, issuedFloor: 7 }) },
      NOW_MS,
      5000,
      { regional: true },
    );
    assert.equal(later.ttlSeconds, NOW_S + 90_000);
    assert.ok(!later.remove.includes(TOKEN_ITEM.issuedFloor));
    const badTtl = whatLeaseWriteLeaves(
      { corrupt: [TOKEN_ITEM.expiresAt], remains: item({ issuedFloor: 7 }) },
      NOW_MS,
      5000,
      { regional: true },
    );
    assert.ok(badTtl.remove.includes(TOKEN_ITEM.issuedFloor));
    // One region: the corrupt item's TTL is the lease's alone.
    const single = whatLeaseWriteLeaves(
      { corrupt: [TOKEN_ITEM.owner], remains: item({ ttlSeconds: NOW_S + 90_000 }) },
      NOW_MS,
      5000,
      { regional: false },
    );
    assert.equal(single.ttlSeconds, NOW_S + LEASE_ONLY_TTL_SECONDS);
  });
});

describe('Function: itemAfterLease', () => {
  it('is the item as read with the lease written on it and the payment gone; none over a corrupt item', () => {
    const reading = { item: item({ version: 'v1', failures: 1, evictedBy: 'caller-a' }) };
    const leaves = whatLeaseWriteLeaves(reading, NOW_MS, 5000, { regional: false });
    assert.deepEqual(itemAfterLease(reading, leaves, 'me', 'r1'), {
      item: {
        ...reading.item,
        owner: 'me',
        leaseUntilMs: NOW_MS + 5000,
        revision: { S: 'r1' },
        ttlSeconds: NOW_S + LEASE_ONLY_TTL_SECONDS,
        evictedBy: undefined,
      },
    });
    assert.equal(itemAfterLease({}, leaves, 'me', 'r1')?.item?.generation, 0);
    assert.equal(
      itemAfterLease({ corrupt: [TOKEN_ITEM.owner], remains: item() }, leaves, 'me', 'r1'),
      undefined,
    );
  });

  it('keeps the TTL the item had (the write set it only if absent)', () => {
    const reading = { item: item({ ttlSeconds: NOW_S + 10 }) };
    const leaves = whatLeaseWriteLeaves(reading, NOW_MS, 5000, { regional: false });
    assert.equal(itemAfterLease(reading, leaves, 'me', 'r1')?.item?.ttlSeconds, NOW_S + 10);
  });
});

describe('Function: leaseStillOurs', () => {
  const held = item({ owner: 'me', revision: { S: 'r1' } });
  it('only while the item holds the holder’s owner and the revision its lease left', () => {
    assert.equal(leaseStillOurs(held, { owner: 'me', revision: 'r1' }), true);
    assert.equal(leaseStillOurs(held, { owner: 'me', revision: 'r2' }), false, 'written since');
    assert.equal(leaseStillOurs(held, { owner: 'other', revision: 'r1' }), false);
    assert.equal(leaseStillOurs(held, { owner: 'me' }), false, 'a lease of unknown revision');
    assert.equal(leaseStillOurs(undefined, { owner: 'me', revision: 'r1' }), false);
  });
});

describe('Function: sealFailureStands', () => {
  it('for the notice’s span after the failure, never for a time ahead of now', () => {
    fc.assert(
      fc.property(fc.integer({ min: -60_000, max: 60_000 }), (ago) => {
        assert.equal(sealFailureStands(NOW_MS - ago, NOW_MS), ago >= 0 && ago < SEAL_FAILURE_NOTICE_MS);
      }),
    );
    assert.equal(sealFailureStands(undefined, NOW_MS), false);
    assert.equal(sealFailureStands(NOW_MS - SEAL_FAILURE_NOTICE_MS + 1, NOW_MS), true, 'the last moment');
    assert.equal(sealFailureStands(NOW_MS - SEAL_FAILURE_NOTICE_MS, NOW_MS), false, 'over');
    assert.equal(sealFailureStands(NOW_MS + 1, NOW_MS), false, 'ahead of now');
  });
});

describe('Function: whatFailureLeaves', () => {
  it('ends the lease and records the failure, its backoff (0 when none) and when', () => {
    assert.deepEqual(whatFailureLeaves({ error: 'upstream_unavailable', retryAtMs: NOW_MS + 900 }, NOW_MS), {
      leaseUntilMs: 0,
      retryAtMs: NOW_MS + 900,
      lastError: 'upstream_unavailable',
      failedAtMs: NOW_MS,
      remove: [TOKEN_ITEM.failures],
    });
    assert.equal(whatFailureLeaves({ error: 'upstream_unavailable' }, NOW_MS).retryAtMs, 0);
  });
});

describe('Functions: whatAbandonLeaves, whatSealFailureLeaves', () => {
  it('an abandon removes the lease and records nothing', () => {
    assert.deepEqual(whatAbandonLeaves(), { remove: [TOKEN_ITEM.owner, TOKEN_ITEM.leaseUntil] });
  });

  it('a seal failure removes the lease and leaves its notice, which stands at once', () => {
    const leaves = whatSealFailureLeaves(NOW_MS);
    assert.deepEqual(leaves, {
      sealFailedAtMs: NOW_MS,
      remove: [TOKEN_ITEM.owner, TOKEN_ITEM.leaseUntil],
    });
    assert.equal(sealFailureStands(leaves.sealFailedAtMs, NOW_MS), true);
  });
});
