import assert from 'node:assert/strict';
import { backoffUntil, FAILURE_THRESHOLD, recordFailure } from '../../lambda/backoff-policy';
import { InProcessTier } from '../../lambda/cache/in-process-tier';
import { clockOf } from '../../lambda/clock';

const token = (accessToken: string, expiresAt = 3600) => ({ accessToken, issuedAt: 0, expiresAt });

describe('Function: backoffUntil', () => {
  it('starts only after repeated failures, then doubles up to 30 s with jitter', () => {
    assert.equal(backoffUntil(FAILURE_THRESHOLD - 1, 1000), 0);
    assert.equal(
      backoffUntil(FAILURE_THRESHOLD, 1000, () => 0),
      1000 + 500,
    );
    assert.equal(
      backoffUntil(FAILURE_THRESHOLD, 1000, () => 1),
      1000 + 1000,
    );
    assert.equal(
      backoffUntil(FAILURE_THRESHOLD + 1, 0, () => 1),
      2000,
    );
    assert.equal(
      backoffUntil(FAILURE_THRESHOLD + 20, 0, () => 1),
      30_000,
    );
  });

  it('counts only the failures that say the provider is unwell', () => {
    assert.equal(recordFailure(5, 'upstream_rejected', 0).failures, 5);
    assert.equal(recordFailure(5, 'upstream_rejected', 0).retryAtMs, 0);
    assert.equal(recordFailure(2, 'upstream_timeout', 0, () => 0).failures, 3);
    assert.equal(recordFailure(2, 'upstream_timeout', 0, () => 0).retryAtMs, 500);
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

  it('records a failure for waiters, and backs off after repeated counted failures, not after refusals', async () => {
    let now = 0;
    const tier = new InProcessTier({ clock: clockOf(() => now), random: () => 0 });
    for (let failure = 0; failure < 5; failure++) {
      const result = await tier.acquire('refused', 1000, undefined);
      assert.equal(result.kind, 'acquired');
      if (result.kind === 'acquired')
        await tier.release(result.lease, { kind: 'failed', error: 'upstream_rejected' });
    }
    assert.equal((await tier.read('refused'))?.lastError, 'upstream_rejected');
    for (let failure = 0; failure < FAILURE_THRESHOLD; failure++) {
      const result = await tier.acquire('down', 1000, undefined);
      assert.equal(result.kind, 'acquired');
      if (result.kind === 'acquired')
        await tier.release(result.lease, { kind: 'failed', error: 'upstream_unavailable' });
    }
    assert.equal((await tier.acquire('down', 1000, undefined)).kind, 'backoff');
    now = 600;
    assert.equal((await tier.acquire('down', 1000, undefined)).kind, 'acquired');
  });

  it('keeps at most maxEntries keys', async () => {
    const tier = new InProcessTier({ clock: clockOf(() => 0), maxEntries: 2 });
    for (const key of ['a', 'b', 'c']) await tier.store(key, token(key), 'p');
    assert.equal(await tier.read('a'), undefined);
    assert.ok(await tier.read('c'));
  });
});
