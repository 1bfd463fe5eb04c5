import assert from 'node:assert/strict';
import { FAILURE_THRESHOLD, PROBE_UNDER_WAY_MS } from '../../lambda/backoff-policy';
import type { Clock } from '../../lambda/clock';
import {
  InProcessProviderRecords,
  ProviderBackingOff,
  ProviderBackoff,
  type ProviderRecords,
} from '../../lambda/lease/provider-backoff';

/** A clock the test moves by hand. */
class HandClock implements Clock {
  ms = 1_800_000_000_000;
  now(): number {
    return this.ms;
  }
  async sleep(ms: number): Promise<void> {
    this.ms += ms;
  }
}

/** The records every container shares, counting the reads that reach them. */
class CountingRecords extends InProcessProviderRecords {
  reads = 0;
  override read(providerId: string) {
    this.reads += 1;
    return super.read(providerId);
  }
}

function setup() {
  const clock = new HandClock();
  const shared = new CountingRecords();
  const container = (records: ProviderRecords = shared) =>
    new ProviderBackoff({ records, clock, random: () => 1 });
  const failThreshold = async (backoff: ProviderBackoff) => {
    let retryAtMs = 0;
    for (let attempt = 0; attempt < FAILURE_THRESHOLD; attempt++)
      retryAtMs = await backoff.failed('p', 'upstream_unavailable');
    return retryAtMs;
  };
  return { clock, shared, container, failThreshold };
}

describe('Class: ProviderBackoff', () => {
  describe('Method: admit', () => {
    it('lets everyone ask a provider with no step, and nobody during one, in any container', async () => {
      const { clock, container, failThreshold } = setup();
      const [first, second] = [container(), container()];
      await first.admit('p', 5000);
      await second.admit('p', 5000);
      const retryAtMs = await failThreshold(first);
      assert.equal(retryAtMs, clock.ms + 1000);
      await assert.rejects(second.admit('p', 5000), (error: unknown) => {
        assert.ok(error instanceof ProviderBackingOff);
        assert.equal(error.code, 'upstream_unavailable');
        assert.equal(error.details.retryAfterSeconds, 1);
        assert.equal(error.details.retryAtMs, retryAtMs);
        return true;
      });
    });

    it('lets one caller probe after a step; the others come back in a moment; an answer ends it for all', async () => {
      const { clock, container, failThreshold } = setup();
      const [first, second] = [container(), container()];
      clock.ms = await failThreshold(first);
      await second.admit('p', 5000);
      await assert.rejects(first.admit('p', 5000), (error: unknown) => {
        assert.ok(error instanceof ProviderBackingOff);
        assert.equal(error.details.retryAtMs, clock.ms + PROBE_UNDER_WAY_MS);
        return true;
      });
      await second.answered('p');
      clock.ms += 1;
      await first.admit('p', 5000);
    });

    it('takes over a probe whose caller died, once its claim has lapsed', async () => {
      const { clock, container, failThreshold } = setup();
      const [first, second] = [container(), container()];
      clock.ms = await failThreshold(first);
      await second.admit('p', 5000);
      clock.ms += 5000;
      await first.admit('p', 5000);
    });

    it('gives a probe back at once when its caller forgoes it (its budget is spent)', async () => {
      const { clock, container, failThreshold } = setup();
      const [first, second] = [container(), container()];
      clock.ms = await failThreshold(first);
      await second.admit('p', 5000);
      await second.forgo('p');
      await first.admit('p', 5000);
      await assert.rejects(second.admit('p', 5000), ProviderBackingOff, 'the new probe is the first one’s');
    });

    it('answers a step it knows of from memory, without reading the shared record', async () => {
      const { shared, container, failThreshold } = setup();
      const backoff = container();
      await failThreshold(backoff);
      const reads = shared.reads;
      await assert.rejects(backoff.admit('p', 5000), ProviderBackingOff);
      assert.equal(shared.reads, reads);
    });
  });

  describe('Method: mayRetry', () => {
    it("stops a grant's retries once another key's failures start a step", async () => {
      const { container, failThreshold } = setup();
      const [grant, others] = [container(), container()];
      assert.equal(await grant.failed('p', 'upstream_timeout'), 0);
      assert.equal(await grant.mayRetry('p'), 0);
      const retryAtMs = await failThreshold(others);
      assert.equal(await grant.mayRetry('p'), retryAtMs);
    });

    it('lets the grant that met a Retry-After of 0 retry, as the one probe', async () => {
      const { clock, container } = setup();
      const [grant, other] = [container(), container()];
      assert.equal(await grant.failed('p', 'upstream_unavailable', 0), clock.ms);
      assert.equal(await grant.mayRetry('p'), 0);
      await assert.rejects(other.admit('p', 5000), ProviderBackingOff);
    });
  });

  describe('Method: failed', () => {
    it('does not count a refusal or a malformed answer', async () => {
      const { container } = setup();
      const backoff = container();
      for (let attempt = 0; attempt < 5; attempt++) {
        assert.equal(await backoff.failed('p', 'upstream_rejected'), 0);
        assert.equal(await backoff.failed('p', 'upstream_invalid_response'), 0);
      }
      await backoff.admit('p', 5000);
    });
  });
});
