import assert from 'node:assert/strict';
import {
  afterFailedAttempt,
  FAILURE_THRESHOLD,
  MAX_RETRY_AFTER_MS,
  PROBE_UNDER_WAY_MS,
  providerStanding,
} from '../../lambda/backoff-policy';
import { InProcessTier } from '../../lambda/cache/in-process-tier';
import { clockOf } from '../../lambda/clock';

const token = (accessToken: string, expiresAt = 3600) => ({ accessToken, issuedAt: 0, expiresAt });

describe('Function: afterFailedAttempt', () => {
  const fail = (
    prior: Parameters<typeof afterFailedAttempt>[0],
    retryAfterMs?: number,
    random: () => number = () => 1,
  ) =>
    afterFailedAttempt(
      prior,
      { error: 'upstream_unavailable', ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
      1000,
      random,
    );

  it('starts a step only after repeated failures of the provider, then doubles up to 30 s with jitter', () => {
    assert.equal(fail({ failures: FAILURE_THRESHOLD - 2, retryAtMs: 0 }).retryAtMs, 0);
    assert.equal(fail({ failures: FAILURE_THRESHOLD - 1, retryAtMs: 0 }, undefined, () => 0).retryAtMs, 1500);
    assert.equal(fail({ failures: FAILURE_THRESHOLD - 1, retryAtMs: 0 }).retryAtMs, 2000);
    assert.equal(fail({ failures: FAILURE_THRESHOLD, retryAtMs: 0 }).retryAtMs, 3000);
    assert.equal(fail({ failures: FAILURE_THRESHOLD + 20, retryAtMs: 0 }).retryAtMs, 31_000);
  });

  it("takes the provider's Retry-After as a step of its own, capped", () => {
    assert.equal(fail(undefined, 30_000).retryAtMs, 31_000);
    assert.equal(fail(undefined, 0).retryAtMs, 1000, 'a Retry-After of 0 still makes one probe');
    assert.equal(fail(undefined, 86_400_000).retryAtMs, 1000 + MAX_RETRY_AFTER_MS);
    // A step never ends earlier than one already running.
    assert.equal(fail({ failures: 1, retryAtMs: 20_000 }, 2000).retryAtMs, 20_000);
  });
});

describe('Function: providerStanding', () => {
  it('is open without a step, backing off during one, and due for one probe after it', () => {
    assert.deepEqual(providerStanding(undefined, 0), { kind: 'open' });
    assert.deepEqual(providerStanding({ failures: 2, retryAtMs: 0 }, 0), { kind: 'open' });
    const stepped = { failures: 3, retryAtMs: 2000, lastError: 'upstream_timeout' } as const;
    assert.deepEqual(providerStanding(stepped, 1000), {
      kind: 'backing_off',
      retryAtMs: 2000,
      lastError: 'upstream_timeout',
    });
    assert.deepEqual(providerStanding(stepped, 2000), { kind: 'probe_due' });
    const probing = { ...stepped, probeOwner: 'someone', probeUntilMs: 7000 };
    assert.deepEqual(providerStanding(probing, 2000), {
      kind: 'backing_off',
      retryAtMs: 2000 + PROBE_UNDER_WAY_MS,
      lastError: 'upstream_timeout',
    });
    assert.deepEqual(providerStanding(probing, 7000), { kind: 'probe_due' }, 'a dead probe lapses');
  });

  it('ignores a step or a probe beyond its bound: nobody of this service wrote it', () => {
    assert.deepEqual(providerStanding({ failures: 9, retryAtMs: MAX_RETRY_AFTER_MS + 1 }, 0), {
      kind: 'open',
    });
    const planted = { failures: 3, retryAtMs: 1, probeOwner: 'x', probeUntilMs: 60_000 };
    assert.deepEqual(providerStanding(planted, 10), { kind: 'probe_due' });
  });
});

describe('Class: InProcessTier', () => {
  it('gives one lease per key at a time, and takes it back with the token and a new version', async () => {
    const tier = new InProcessTier({ clock: clockOf(() => 0) });
    const first = await tier.acquire('k', 1000, undefined);
    assert.equal(first.kind, 'acquired');
    assert.equal((await tier.acquire('k', 1000, undefined)).kind, 'held');
    assert.equal((await tier.acquire('other', 1000, undefined)).kind, 'acquired');
    if (first.kind !== 'acquired') return;
    await tier.release(first.lease, { kind: 'succeeded', token: token('t'), providerId: 'p' });
    const item = await tier.read('k');
    assert.deepEqual(item?.token, token('t'));
    assert.ok(item?.version);
    assert.equal((await tier.acquire('k', 1000, undefined)).kind, 'superseded');
    assert.equal((await tier.acquire('k', 1000, item.version)).kind, 'acquired');
  });

  it('lets a lease that ran out be taken over', async () => {
    let now = 0;
    const tier = new InProcessTier({ clock: clockOf(() => now) });
    await tier.acquire('k', 1000, undefined);
    now = 1001;
    assert.equal((await tier.acquire('k', 1000, undefined)).kind, 'acquired');
  });

  it('drops a token once it has expired', async () => {
    let now = 0;
    const tier = new InProcessTier({ clock: clockOf(() => now) });
    await tier.store('k', token('t', 10), 'p');
    assert.ok((await tier.read('k'))?.token);
    now = 10_000;
    assert.equal((await tier.read('k'))?.token, undefined);
    assert.equal((await tier.acquire('k', 1000, undefined)).kind, 'acquired');
  });

  it('records a failure for waiters, and backs the key off only as long as the failure said', async () => {
    let now = 0;
    const tier = new InProcessTier({ clock: clockOf(() => now) });
    for (let failure = 0; failure < 5; failure++) {
      const result = await tier.acquire('refused', 1000, undefined);
      assert.equal(result.kind, 'acquired');
      if (result.kind === 'acquired')
        await tier.release(result.lease, { kind: 'failed', error: 'upstream_rejected' });
    }
    assert.equal((await tier.read('refused'))?.lastError, 'upstream_rejected');
    const result = await tier.acquire('down', 1000, undefined);
    assert.equal(result.kind, 'acquired');
    if (result.kind === 'acquired')
      await tier.release(result.lease, { kind: 'failed', error: 'upstream_unavailable', retryAtMs: 500 });
    assert.equal((await tier.read('down'))?.retryAtMs, 500);
    assert.equal((await tier.acquire('down', 1000, undefined)).kind, 'backoff');
    now = 500;
    assert.equal((await tier.acquire('down', 1000, undefined)).kind, 'acquired');
  });

  it('keeps a claimed token served until its evict is confirmed; a withdrawn claim evicts and prepays nothing', async () => {
    const tier = new InProcessTier({ clock: clockOf(() => 0) });
    await tier.store('k', token('t'), 'p');
    const version = (await tier.read('k'))?.version as string;
    const named = { version, issuedAt: token('t').issuedAt, expiresAt: token('t').expiresAt };
    const refused = await tier.claimEvict('k', named, 'refused');
    assert.ok(refused);
    assert.deepEqual((await tier.read('k'))?.token, token('t'));
    assert.equal(await tier.claimEvict('k', named, 'another'), undefined, 'one claim at a time');
    await tier.withdrawEvict(refused);
    assert.equal(await tier.confirmEvict(refused), false);
    assert.deepEqual((await tier.read('k'))?.token, token('t'), 'the token stays');
    const paid = await tier.claimEvict('k', named, 'evictor');
    assert.ok(paid);
    assert.equal(await tier.confirmEvict(paid), true);
    assert.equal((await tier.read('k'))?.token, undefined);
    const renewal = await tier.acquire('k', 1000, undefined);
    assert.equal(renewal.kind === 'acquired' && renewal.lease.paidBy, 'evictor');
  });

  it('keeps at most maxEntries keys', async () => {
    const tier = new InProcessTier({ clock: clockOf(() => 0), maxEntries: 2 });
    for (const key of ['a', 'b', 'c']) await tier.store(key, token(key), 'p');
    assert.equal(await tier.read('a'), undefined);
    assert.ok(await tier.read('c'));
  });
});
