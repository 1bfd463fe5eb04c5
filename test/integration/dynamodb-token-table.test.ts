import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoDbTokenTable } from '../../lambda/cache/dynamodb-token-table';
import { FAILURE_THRESHOLD, type Lease } from '../../lambda/cache/fetch-coordinator';
import { createTestTable, type TestTable } from '../support/dynamodb';

const token = (accessToken: string) => ({ accessToken, issuedAt: 1_800_000_000, expiresAt: 1_800_003_600 });

/** The token item and its lease, against DynamoDB Local: the conditions that make one fetch per key. */
describe('Class: DynamoDbTokenTable', () => {
  let table: TestTable;
  let clock = 1_800_000_000_000;
  let store: DynamoDbTokenTable;
  let keySeq = 0;
  const freshKey = () => `key-${++keySeq}`;

  before(async () => {
    table = await createTestTable();
    store = new DynamoDbTokenTable({
      client: table.client,
      tableName: table.tableName,
      now: () => clock,
      random: () => 0,
    });
  });

  after(() => table.dispose());

  const acquired = async (key: string, seen?: ReturnType<typeof token>): Promise<Lease> => {
    const result = await store.acquire(key, 5000, seen);
    assert.equal(result.kind, 'acquired');
    return (result as { lease: Lease }).lease;
  };

  it('gives the lease to one caller; the next learns until when it is held', async () => {
    const key = freshKey();
    await acquired(key);
    const second = await store.acquire(key, 5000);
    assert.deepEqual(second, { kind: 'held', leaseUntilMs: clock + 5000 });
  });

  it('writes the token and gives the lease back in one release', async () => {
    const key = freshKey();
    const lease = await acquired(key);
    await store.release(lease, { kind: 'succeeded', stored: { token: token('t1'), providerId: 'p' } });
    assert.deepEqual(await store.get(key), token('t1'));
    const state = await store.peek(key);
    assert.equal(state?.leaseUntilMs, 0);
    await acquired(key, token('t1'));
  });

  it('refuses the lease to a caller whose view of the token is out of date, and hands it the new token', async () => {
    const key = freshKey();
    await store.put(key, token('newer'), { providerId: 'p' });
    const stale = await store.acquire(key, 5000);
    assert.deepEqual(stale, { kind: 'superseded', token: token('newer') });
    const other = await store.acquire(key, 5000, token('older'));
    assert.equal(other.kind, 'superseded');
  });

  it('lets anyone take over a lease that ran out (its holder died)', async () => {
    const key = freshKey();
    await acquired(key);
    clock += 5001;
    await acquired(key);
  });

  it('records a failure for the waiters, and backs off after repeated counted failures', async () => {
    const key = freshKey();
    for (let failure = 1; failure <= FAILURE_THRESHOLD; failure++) {
      const lease = await acquired(key);
      assert.equal(lease.priorFailures, failure - 1);
      await store.release(lease, { kind: 'failed', error: 'upstream_unavailable', counts: true });
      const state = await store.peek(key);
      assert.equal(state?.lastError, 'upstream_unavailable');
      assert.equal(state?.failedAtMs, clock);
    }
    const refused = await store.acquire(key, 5000);
    assert.deepEqual(refused, { kind: 'backoff', retryAtMs: clock + 500, lastError: 'upstream_unavailable' });
    clock += 501;
    const lease = await acquired(key);
    await store.release(lease, { kind: 'succeeded', stored: { token: token('recovered'), providerId: 'p' } });
    assert.equal((await acquired(key, token('recovered'))).priorFailures, 0, 'a success clears the count');
  });

  it('writes a token even when its lease was taken over meanwhile', async () => {
    const key = freshKey();
    const slow = await acquired(key);
    clock += 5001;
    const fast = await acquired(key);
    await store.release(slow, { kind: 'succeeded', stored: { token: token('slow'), providerId: 'p' } });
    assert.deepEqual(await store.get(key), token('slow'));
    assert.ok(((await store.peek(key))?.leaseUntilMs ?? 0) > clock, 'the new holder keeps its lease');
    await store.release(fast, { kind: 'succeeded', stored: { token: token('fast'), providerId: 'p' } });
    assert.deepEqual(await store.get(key), token('fast'));
  });

  it('evicts the token with its lease and backoff state', async () => {
    const key = freshKey();
    await store.put(key, token('t'), { providerId: 'p' });
    await store.delete(key);
    assert.equal(await store.get(key), undefined);
    assert.equal(await store.peek(key), undefined);
  });
});
