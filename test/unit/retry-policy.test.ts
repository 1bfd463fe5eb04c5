import assert from 'node:assert/strict';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, parseRetryAfter } from '../../lambda/oauth/retry-policy';

describe('Function: parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads delay-seconds and HTTP-dates', () => {
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now), 10_000);
  });

  it('ignores what it cannot read, and never goes negative', () => {
    assert.equal(parseRetryAfter(null, now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0);
  });
});

describe('Function: backoffDelayMs', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    assert.equal(
      backoffDelayMs(DEFAULT_RETRY_POLICY, 1, () => 0.999),
      199,
    );
    assert.equal(
      backoffDelayMs(DEFAULT_RETRY_POLICY, 3, () => 0.999),
      799,
    );
    assert.equal(
      backoffDelayMs(DEFAULT_RETRY_POLICY, 10, () => 0.999),
      1998,
    );
    assert.equal(
      backoffDelayMs(DEFAULT_RETRY_POLICY, 3, () => 0),
      0,
    );
  });
});
