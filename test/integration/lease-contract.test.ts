import assert from 'node:assert/strict';
import { type AttributeValue, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbTier } from '../../lambda/cache/dynamodb-tier';
import { InProcessTier } from '../../lambda/cache/in-process-tier';
import type { Lease, SharedTier } from '../../lambda/cache/shared-tier';
import { clockOf } from '../../lambda/clock';
import { MAX_BACKOFF_MS, MAX_LEASE_MS } from '../../lambda/lease/lease-rule';
import { localSealer } from '../../local/sealing';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';

const token = (accessToken: string) => ({ accessToken, issuedAt: 1_800_000_000, expiresAt: 1_800_003_600 });

interface Subject {
  readonly tier: SharedTier;
  /** Moves the subject's clock. */
  advance(ms: number): void;
  now(): number;
  /** Writes raw attributes onto a key's item, as a table writer could; undefined when the tier has no such item. */
  plant?: (key: string, attributes: Record<string, AttributeValue>) => Promise<void>;
}

/**
 * The lease rule's contract, run against every tier: the in-process tier and DynamoDB Local. The same cases,
 * the same answers, boundaries included (a lease ending exactly now is free in both).
 */
describe.each([
  ['in-process', 'memory'],
  ['DynamoDB Local', 'table'],
] as const)('Lease contract: %s', (_label, kind) => {
  let table: TestTable | undefined;
  let subject: Subject;
  let keySeq = 0;
  const freshKey = () => `contract-${kind}-${++keySeq}`;

  beforeAll(async () => {
    let clock = 1_800_000_000_000;
    const clockSeam = clockOf(() => clock);
    const advance = (ms: number) => {
      clock += ms;
    };
    if (kind === 'memory') {
      subject = { tier: new InProcessTier({ clock: clockSeam, random: () => 0 }), advance, now: () => clock };
      return;
    }
    table = await createTestTable();
    const { client, tableName } = table;
    subject = {
      tier: new DynamoDbTier({
        client,
        tableName,
        sealer: localSealer(),
        clock: clockSeam,
        random: () => 0,
        log: new RecordingLog(),
      }),
      advance,
      now: () => clock,
      plant: async (key, attributes) => {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: {
              pk: { S: key },
              expiresAt: { N: String(Math.floor(clock / 1000) + 3600) },
              ...attributes,
            },
          }),
        );
      },
    };
  });

  afterAll(() => table?.dispose());

  const acquire = (key: string, seen?: string) => subject.tier.acquire(key, 5000, seen);
  const acquired = async (key: string, seen?: string): Promise<Lease> => {
    const result = await acquire(key, seen);
    assert.equal(result.kind, 'acquired');
    return (result as { lease: Lease }).lease;
  };

  it('free: an absent item', async () => {
    await acquired(freshKey());
  });

  it('held until leaseUntil; at leaseUntil == now it is free', async () => {
    const key = freshKey();
    await acquired(key);
    assert.deepEqual(await acquire(key), { kind: 'held', leaseUntilMs: subject.now() + 5000 });
    subject.advance(4999);
    assert.equal((await acquire(key)).kind, 'held');
    subject.advance(1);
    await acquired(key);
  });

  it('never leases beyond its maximum, whatever is asked', async () => {
    const key = freshKey();
    const result = await subject.tier.acquire(key, MAX_LEASE_MS * 10, undefined);
    assert.equal(result.kind, 'acquired');
    const held = await acquire(key);
    assert.deepEqual(held, { kind: 'held', leaseUntilMs: subject.now() + MAX_LEASE_MS });
  });

  it('backing off until retryAt; at retryAt == now it is free', async () => {
    const key = freshKey();
    // The provider's backoff (or Retry-After) the holder met, as the work decided it: the key keeps it.
    await subject.tier.release(await acquired(key), {
      kind: 'failed',
      error: 'upstream_timeout',
      retryAtMs: subject.now() + 1500,
    });
    const backoff = await acquire(key);
    assert.equal(backoff.kind, 'backoff');
    const retryAtMs = (backoff as { retryAtMs: number }).retryAtMs;
    subject.advance(retryAtMs - subject.now() - 1);
    assert.equal((await acquire(key)).kind, 'backoff');
    subject.advance(1);
    await acquired(key);
  });

  it('superseded: the token is no longer the one seen', async () => {
    const key = freshKey();
    await subject.tier.release(await acquired(key), {
      kind: 'succeeded',
      token: token('t'),
      providerId: 'p',
    });
    const result = await acquire(key, 'another-version');
    assert.equal(result.kind, 'superseded');
    const version = (await subject.tier.read(key))?.version;
    assert.ok(version);
    assert.equal((await acquire(key)).kind, 'superseded', 'saw none, but there is one');
    await acquired(key, version);
  });

  describe('stored values beyond their bounds or of the wrong shape (table only)', () => {
    const cases: Array<[string, (now: number) => Record<string, AttributeValue>]> = [
      [
        'a lease beyond now + 12 s',
        (now) => ({ owner: { S: 'x' }, leaseUntil: { N: String(now + MAX_LEASE_MS + 1) } }),
      ],
      [
        'a backoff beyond now + 300 s (the longest Retry-After honoured)',
        (now) => ({
          retryAt: { N: String(now + MAX_BACKOFF_MS + 1) },
          lastError: { S: 'upstream_unavailable' },
        }),
      ],
      ['version as a number', () => ({ version: { N: '1' } })],
      ['leaseUntil as a string', (now) => ({ owner: { S: 'x' }, leaseUntil: { S: String(now + 5000) } })],
      ['retryAt as a string', (now) => ({ retryAt: { S: String(now + 5000) } })],
      ['rev as a number', () => ({ rev: { N: '1' } })],
      ['generation negative', () => ({ generation: { N: '-1' } })],
      ['sealed empty', () => ({ sealed: { B: new Uint8Array() }, version: { S: 'v' } })],
    ];
    it.each(cases)('%s: free, then overwritten by the next release', async (_shape, attributes) => {
      if (!subject.plant) return;
      const key = freshKey();
      await subject.plant(key, attributes(subject.now()));
      const lease = await acquired(key);
      await subject.tier.release(lease, { kind: 'succeeded', token: token('healed'), providerId: 'p' });
      assert.deepEqual((await subject.tier.read(key))?.token, token('healed'));
    });
  });
});
