import assert from 'node:assert/strict';
import fc from 'fast-check';
import { READ_REUSE_MS, readStillFresh, tokenToOpen, whatReadReports } from '../../lambda/cache/read-rule';
import type { ParsedItem } from '../../lambda/cache/table-item';
import { MAX_LEASE_MS } from '../../lambda/lease/lease-rule';

const NOW_MS = 1_800_000_000_000;
const NOW_S = NOW_MS / 1000;

/** An item holding a whole sealed token that expires `expiresIn` seconds from now. */
const holding = (extra: Partial<ParsedItem> = {}, expiresIn = 600): ParsedItem => ({
  sealed: new Uint8Array([1, 2]),
  provider: 'p',
  issuedAt: NOW_S - 60,
  expiresAt: NOW_S + expiresIn,
  version: 'v1',
  generation: 2,
  floor: 0,
  failures: 0,
  ...extra,
});

describe('Function: tokenToOpen', () => {
  it('names the sealed token, its provider, times and generation to open', () => {
    assert.deepEqual(tokenToOpen(holding(), NOW_MS), {
      kind: 'open',
      sealed: new Uint8Array([1, 2]),
      providerId: 'p',
      times: { issuedAt: NOW_S - 60, expiresAt: NOW_S + 600 },
      generation: 2,
    });
  });

  it('none when any part of the token is missing', () => {
    for (const missing of ['sealed', 'provider', 'issuedAt', 'expiresAt', 'version'] as const)
      assert.deepEqual(tokenToOpen(holding({ [missing]: undefined }), NOW_MS), { kind: 'none' }, missing);
  });

  it('none once expired (TTL deletes late); refused below the floor an evict left, while unexpired', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -600, max: 600 }),
        fc.nat(4),
        fc.nat(4),
        (expiresIn, generation, floor) => {
          const found = tokenToOpen(holding({ generation, floor }, expiresIn), NOW_MS);
          if (expiresIn <= 0) assert.equal(found.kind, 'none');
          else assert.equal(found.kind, generation < floor ? 'refused' : 'open');
        },
      ),
    );
  });
});

describe('Function: whatReadReports', () => {
  it('reports a lease only while it is live and within its bound', () => {
    fc.assert(
      fc.property(fc.integer({ min: -20_000, max: 2 * MAX_LEASE_MS }), (leaseIn) => {
        const reported = whatReadReports(holding({ leaseUntilMs: NOW_MS + leaseIn }), {}, NOW_MS);
        const live = leaseIn > 0 && leaseIn <= MAX_LEASE_MS;
        assert.equal(reported.leaseUntilMs, live ? NOW_MS + leaseIn : 0);
      }),
    );
  });

  it('keeps the version with no token served; reports the floor, the failure and a backoff as written', () => {
    const item = holding({
      issuedFloor: NOW_S - 100,
      failedAtMs: NOW_MS - 5,
      lastError: 'upstream_unavailable',
      retryAtMs: NOW_MS + 900,
    });
    assert.deepEqual(whatReadReports(item, {}, NOW_MS), {
      leaseUntilMs: 0,
      version: 'v1',
      evictedThrough: NOW_S - 100,
      failedAtMs: NOW_MS - 5,
      lastError: 'upstream_unavailable',
      retryAtMs: NOW_MS + 900,
    });
    assert.equal(whatReadReports(holding({ retryAtMs: 0 }), {}, NOW_MS).retryAtMs, undefined);
    assert.deepEqual(whatReadReports(undefined, {}, NOW_MS), { leaseUntilMs: 0 });
  });

  it('reports the token served and, for another region’s, which', () => {
    const token = { accessToken: 't', issuedAt: NOW_S, expiresAt: NOW_S + 900 };
    const peer = { region: 'eu-west-1', version: 'pv' };
    const reported = whatReadReports(holding(), { token, peer }, NOW_MS);
    assert.equal(reported.token, token);
    assert.deepEqual(reported.peer, peer);
    assert.equal(reported.version, 'v1', 'the version stays the own item’s');
  });
});

describe('Function: readStillFresh', () => {
  it('only a read of the version the caller saw, no older than the reuse span', () => {
    fc.assert(
      fc.property(fc.nat(3 * READ_REUSE_MS), fc.boolean(), (ago, sameVersion) => {
        const last = { reading: { item: holding() }, atMs: NOW_MS - ago };
        assert.equal(
          readStillFresh(last, sameVersion ? 'v1' : 'v0', NOW_MS),
          ago <= READ_REUSE_MS && sameVersion,
        );
      }),
    );
    assert.equal(
      readStillFresh({ reading: {}, atMs: NOW_MS }, undefined, NOW_MS),
      true,
      'no item, none seen',
    );
    const at = (atMs: number) => ({ reading: { item: holding() }, atMs });
    assert.equal(readStillFresh(at(NOW_MS - READ_REUSE_MS), 'v1', NOW_MS), true, 'the last moment');
    assert.equal(readStillFresh(at(NOW_MS - READ_REUSE_MS - 1), 'v1', NOW_MS), false, 'too old');
  });
});
