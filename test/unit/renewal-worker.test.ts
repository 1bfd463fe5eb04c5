import assert from 'node:assert/strict';
import { RandomCounterKey, SealedPrincipals } from '../../lambda/budget/caller-counter-names';
import { encodeMark, type InUseMark, markFields } from '../../lambda/refresh/in-use-index';
import { MarkAuthenticator } from '../../lambda/refresh/mark-authenticator';
import {
  FAILED_RETRY_SECONDS,
  HELD_RETRY_SECONDS,
  RENEWAL_RESERVE_MS,
  RenewalWorker,
} from '../../lambda/refresh/renewal-worker';
import type { RenewAnswer } from '../../lambda/token-vendor';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const NOW_MS = 1_800_000_000_000;

/** The worker over a vendor port that answers as the test says (the vendor itself is tested on real parts). */
async function workerWith(answers: RenewAnswer[]) {
  const counterKey = new RandomCounterKey();
  const marks = new MarkAuthenticator(counterKey);
  const principals = new SealedPrincipals(counterKey);
  const renewed: string[] = [];
  const worker = new RenewalWorker({
    vendor: {
      renewMarked: async (mark) => {
        renewed.push(mark.key);
        return answers.shift() ?? { outcome: 'renewed' };
      },
    },
    principals,
    marks,
    clock: { now: () => NOW_MS, sleep: async () => undefined },
    log: silent,
  });
  const body = async (key: string, changes: Partial<InUseMark> = {}) => {
    const fields = {
      key,
      providerId: 'p',
      scopes: ['read'],
      principal: await principals.seal('arn:aws:iam::111122223333:role/orders'),
      inUseUntil: NOW_MS / 1000 + 300,
      renewAt: NOW_MS / 1000,
      expiresAt: NOW_MS / 1000 + 60,
    };
    return encodeMark({ ...fields, tag: await marks.tag(markFields(fields)), ...changes });
  };
  return { worker, body, renewed };
}

describe('RenewalWorker: what each delivered renewal asks of the queue', () => {
  it('deletes a renewal done, retries a held key after the lease, a failure sooner, a backoff at its time', async () => {
    const { worker, body } = await workerWith([
      { outcome: 'renewed' },
      { outcome: 'held' },
      { outcome: 'failed' },
      { outcome: 'backoff', retryAtMs: NOW_MS + 7000 },
    ]);
    // One at a time, so the answers go to the renewals in order.
    const verdicts = [];
    for (const key of ['a', 'b', 'c', 'd']) verdicts.push(...(await worker.renewBatch([await body(key)])));
    assert.deepEqual(verdicts, [
      { kind: 'done' },
      { kind: 'retry', afterSeconds: HELD_RETRY_SECONDS },
      { kind: 'retry', afterSeconds: FAILED_RETRY_SECONDS },
      { kind: 'retry', afterSeconds: 7 },
    ]);
  });

  it('refuses a message that does not verify, and never asks the vendor for it', async () => {
    const { worker, body, renewed } = await workerWith([]);
    const { verdicts, batch } = await worker.renewCounted([
      await body('changed', { expiresAt: NOW_MS / 1000 + 3600 }),
      'not a mark',
    ]);
    assert.deepEqual(verdicts, [{ kind: 'done' }, { kind: 'done' }]);
    assert.equal(batch.counts.rejected, 2);
    assert.deepEqual(renewed, []);
  });

  it('starts no renewal with less than its reserve of the invocation left: delivered again at once', async () => {
    const { worker, body, renewed } = await workerWith([]);
    const { verdicts, batch } = await worker.renewCounted([await body('late')], {
      remainingMs: () => RENEWAL_RESERVE_MS - 1,
    });
    assert.deepEqual(verdicts, [{ kind: 'retry', afterSeconds: 0 }]);
    assert.equal(batch.counts.not_started, 1);
    assert.deepEqual(renewed, []);
  });
});
