import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffUntil, FAILURE_THRESHOLD, InProcessCoordinator } from '../../lambda/cache/fetch-coordinator';

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
});

describe('Class: InProcessCoordinator', () => {
  it('gives one lease per key at a time, and takes it back', async () => {
    const coordinator = new InProcessCoordinator(() => 0);
    const first = await coordinator.acquire('k', 1000);
    assert.equal(first.kind, 'acquired');
    assert.equal((await coordinator.acquire('k', 1000)).kind, 'held');
    assert.equal((await coordinator.acquire('other', 1000)).kind, 'acquired');
    if (first.kind !== 'acquired') return;
    await coordinator.release(first.lease, { kind: 'succeeded' });
    assert.equal((await coordinator.acquire('k', 1000)).kind, 'acquired');
  });

  it('lets a lease that ran out be taken over', async () => {
    let now = 0;
    const coordinator = new InProcessCoordinator(() => now);
    await coordinator.acquire('k', 1000);
    now = 1001;
    assert.equal((await coordinator.acquire('k', 1000)).kind, 'acquired');
  });

  it('backs off after repeated counted failures, not after refusals', async () => {
    let now = 0;
    const coordinator = new InProcessCoordinator(
      () => now,
      () => 0,
    );
    for (let failure = 0; failure < 5; failure++) {
      const result = await coordinator.acquire('refused', 1000);
      assert.equal(result.kind, 'acquired');
      if (result.kind === 'acquired') {
        await coordinator.release(result.lease, {
          kind: 'failed',
          error: 'upstream_rejected',
          counts: false,
        });
      }
    }
    for (let failure = 0; failure < FAILURE_THRESHOLD; failure++) {
      const result = await coordinator.acquire('down', 1000);
      assert.equal(result.kind, 'acquired');
      if (result.kind === 'acquired') {
        await coordinator.release(result.lease, {
          kind: 'failed',
          error: 'upstream_unavailable',
          counts: true,
        });
      }
    }
    const backoff = await coordinator.acquire('down', 1000);
    assert.equal(backoff.kind, 'backoff');
    now = 600;
    assert.equal((await coordinator.acquire('down', 1000)).kind, 'acquired');
  });
});
