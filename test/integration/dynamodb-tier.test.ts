import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbTier, TableTimeoutError } from '../../lambda/cache/dynamodb-tier';
import type { Lease } from '../../lambda/cache/shared-tier';
import { clockOf } from '../../lambda/clock';
import { localSealer } from '../../local/sealing';
import { createTestTable, dynamoDbClient, type TestTable } from '../support/dynamodb';

const token = (accessToken: string) => ({ accessToken, issuedAt: 1_800_000_000, expiresAt: 1_800_003_600 });
/** What an evict names: a token's times and its version on the item. */
const named = ({ issuedAt, expiresAt }: { issuedAt: number; expiresAt: number }, version: string) => ({
  version,
  issuedAt,
  expiresAt,
});

/** The token item and its lease, against DynamoDB Local: the conditions that make one fetch per key. */
describe('Class: DynamoDbTier', () => {
  let table: TestTable;
  let clock = 1_800_000_000_000;
  let tier: DynamoDbTier;
  let keySeq = 0;
  const freshKey = () => `key-${++keySeq}`;

  beforeAll(async () => {
    table = await createTestTable();
    tier = new DynamoDbTier({
      client: table.client,
      tableName: table.tableName,
      sealer: localSealer(),
      clock: clockOf(() => clock),
      random: () => 0,
    });
  });

  afterAll(() => table.dispose());

  const acquired = async (key: string, seenVersion?: string): Promise<Lease> => {
    const result = await tier.acquire(key, 5000, seenVersion);
    assert.equal(result.kind, 'acquired');
    return (result as { lease: Lease }).lease;
  };
  const versionOf = async (key: string) => (await tier.read(key))?.version;

  it('gives the lease to one caller; the next learns until when it is held', async () => {
    const key = freshKey();
    await acquired(key);
    const second = await tier.acquire(key, 5000, undefined);
    assert.deepEqual(second, { kind: 'held', leaseUntilMs: clock + 5000 });
  });

  it('writes the token with a new version and gives the lease back in one release', async () => {
    const key = freshKey();
    const lease = await acquired(key);
    await tier.release(lease, { kind: 'succeeded', token: token('t1'), providerId: 'p' });
    const item = await tier.read(key);
    assert.deepEqual(item?.token, token('t1'));
    assert.equal(item?.leaseUntilMs, 0);
    assert.ok(item?.version);
    await acquired(key, item.version);
  });

  it('refuses the lease to a caller whose version is out of date, and hands it the item as it is', async () => {
    const key = freshKey();
    await tier.store(key, token('older'), 'p');
    const older = await versionOf(key);
    await tier.store(key, token('newer'), 'p');
    const stale = await tier.acquire(key, 5000, undefined);
    assert.equal(stale.kind, 'superseded');
    assert.deepEqual(stale.kind === 'superseded' && stale.item?.token, token('newer'));
    const other = await tier.acquire(key, 5000, older);
    assert.equal(other.kind, 'superseded');
    await acquired(key, await versionOf(key));
  });

  it('compares versions, not tokens: the same token written again is a new version', async () => {
    const key = freshKey();
    await tier.store(key, token('same'), 'p');
    const first = await versionOf(key);
    await tier.store(key, token('same'), 'p');
    assert.notEqual(await versionOf(key), first);
    assert.equal((await tier.acquire(key, 5000, first)).kind, 'superseded');
  });

  it('keeps the version of an expired token visible, so a lease can still be taken on it', async () => {
    const key = freshKey();
    await tier.store(key, { accessToken: 'gone', issuedAt: 1, expiresAt: 2 }, 'p');
    const item = await tier.read(key);
    assert.equal(item?.token, undefined);
    assert.ok(item?.version);
    await acquired(key, item.version);
  });

  it('lets anyone take over a lease that ran out (its holder died)', async () => {
    const key = freshKey();
    await acquired(key);
    clock += 5001;
    await acquired(key);
  });

  it('records a failure for the waiters, and backs the key off as long as the failure said', async () => {
    const key = freshKey();
    // A failure with no backoff of the provider's (below its threshold): recorded, and nobody is kept out.
    await tier.release(await acquired(key), { kind: 'failed', error: 'upstream_unavailable' });
    const item = await tier.read(key);
    assert.equal(item?.lastError, 'upstream_unavailable');
    assert.equal(item?.failedAtMs, clock);
    assert.equal(item?.retryAtMs, undefined);
    // The provider's backoff (or its Retry-After) the work met: the key keeps it for everyone.
    await tier.release(await acquired(key), {
      kind: 'failed',
      error: 'upstream_unavailable',
      retryAtMs: clock + 500,
    });
    assert.equal((await tier.read(key))?.retryAtMs, clock + 500);
    const refused = await tier.acquire(key, 5000, undefined);
    assert.deepEqual(refused, { kind: 'backoff', retryAtMs: clock + 500, lastError: 'upstream_unavailable' });
    clock += 501;
    const lease = await acquired(key);
    await tier.release(lease, { kind: 'succeeded', token: token('recovered'), providerId: 'p' });
    assert.equal((await tier.read(key))?.lastError, undefined, 'a success clears the record');
  });

  it('writes a token even when its lease was taken over meanwhile', async () => {
    const key = freshKey();
    const slow = await acquired(key);
    clock += 5001;
    const fast = await acquired(key);
    await tier.release(slow, { kind: 'succeeded', token: token('slow'), providerId: 'p' });
    assert.deepEqual((await tier.read(key))?.token, token('slow'));
    assert.ok(((await tier.read(key))?.leaseUntilMs ?? 0) > clock, 'the new holder keeps its lease');
    await tier.release(fast, { kind: 'succeeded', token: token('fast'), providerId: 'p' });
    assert.deepEqual((await tier.read(key))?.token, token('fast'));
  });

  it('evicts only the token of the version named, and keeps the lease and backoff state', async () => {
    const key = freshKey();
    await tier.store(key, token('t'), 'p');
    const version = await versionOf(key);
    assert.ok(version);
    assert.equal(await tier.claimEvict(key, named(token('t'), 'another-version'), 'evictor'), undefined);
    assert.deepEqual((await tier.read(key))?.token, token('t'));
    const lease = await acquired(key, version);
    await tier.release(lease, { kind: 'failed', error: 'upstream_unavailable' });
    const claim = await tier.claimEvict(key, named(token('t'), version), 'evictor');
    assert.ok(claim);
    assert.equal(await tier.confirmEvict(claim), true);
    const item = await tier.read(key);
    assert.equal(item?.token, undefined);
    assert.equal(item?.version, undefined);
    assert.equal(item?.lastError, 'upstream_unavailable', 'the failure record stays');
    const renewal = await acquired(key);
    assert.equal(renewal.paidBy, 'evictor', 'the first lease after the eviction is paid by the evictor');
    await tier.release(renewal, { kind: 'abandoned' });
    assert.equal((await acquired(key)).paidBy, undefined, 'and only the first');
  });

  it('keeps a claimed token served and unpaid until the claim is confirmed; a withdrawn claim leaves it as it was', async () => {
    const key = freshKey();
    await tier.store(key, token('t'), 'p');
    const version = await versionOf(key);
    assert.ok(version);
    const claim = await tier.claimEvict(key, named(token('t'), version), 'refused');
    assert.ok(claim);
    assert.deepEqual((await tier.read(key))?.token, token('t'), 'a claim changes nothing a read serves');
    assert.equal(
      await tier.claimEvict(key, named(token('t'), version), 'another'),
      undefined,
      'another evict is refused while the claim stands',
    );
    // A lease taken while the claim stands (a caller whose min_ttl the token no longer meets) is its own to pay.
    const during = await acquired(key, version);
    assert.equal(during.paidBy, undefined);
    await tier.release(during, { kind: 'abandoned' });
    await tier.withdrawEvict(claim);
    assert.deepEqual((await tier.read(key))?.token, token('t'), 'the token stays cached');
    assert.equal(await tier.confirmEvict(claim), false, 'a withdrawn claim evicts nothing');
    assert.deepEqual((await tier.read(key))?.token, token('t'));
    assert.equal((await acquired(key, version)).paidBy, undefined, 'and prepays nothing');
  });

  it('lets a claim lapse, and evicts nothing for a claim whose token was renewed meanwhile', async () => {
    const key = freshKey();
    await tier.store(key, token('t'), 'p');
    const version = await versionOf(key);
    assert.ok(version);
    const lapsed = await tier.claimEvict(key, named(token('t'), version), 'died');
    assert.ok(lapsed);
    clock += 10_001;
    const claim = await tier.claimEvict(key, named(token('t'), version), 'evictor');
    assert.ok(claim, 'a lapsed claim no longer stands');
    assert.equal(await tier.confirmEvict(lapsed), false, 'the lapsed claim is no longer on the item');
    await tier.store(key, token('renewed'), 'p');
    assert.equal(await tier.confirmEvict(claim), false);
    assert.deepEqual((await tier.read(key))?.token, token('renewed'));
    assert.equal((await acquired(key, await versionOf(key))).paidBy, undefined);
  });

  it('stores the version beside the token on the item itself', async () => {
    const key = freshKey();
    await tier.store(key, token('t'), 'p');
    const { Item } = await table.client.send(
      new GetItemCommand({ TableName: table.tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
    );
    assert.equal(Item?.version?.S, await versionOf(key));
  });

  it('bounds every call: a table that accepts connections and never answers times out', async () => {
    const sockets = new Set<Socket>();
    const hung = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const { port } = hung.address() as { port: number };
    const client = dynamoDbClient(`http://127.0.0.1:${port}`);
    const bounded = new DynamoDbTier({
      client,
      tableName: 'hung',
      callTimeoutMs: 200,
      sealer: localSealer(),
    });
    try {
      for (const call of [
        () => bounded.read('k'),
        () => bounded.acquire('k', 1000, undefined),
        () => bounded.store('k', token('t'), 'p'),
        () => bounded.claimEvict('k', named(token('t'), 'v'), 'evictor'),
      ]) {
        await assert.rejects(call(), (error: unknown) => error instanceof TableTimeoutError);
      }
      assert.ok(sockets.size > 0, 'the calls reached the hung endpoint');
    } finally {
      client.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hung.close(resolve));
    }
  });
});
