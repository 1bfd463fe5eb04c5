import assert from 'node:assert/strict';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  type AttributeValue,
  type BatchGetItemCommandInput,
  type BatchGetItemCommandOutput,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DecryptCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { DynamoDbBudgetLedger } from '../../lambda/budget/budget-ledger';
import { cacheKey } from '../../lambda/cache/cache-key';
import { DynamoDbTier } from '../../lambda/cache/dynamodb-tier';
import { KmsDataKeys } from '../../lambda/cache/kms-data-keys';
import { EnvelopeSealer } from '../../lambda/cache/token-sealer';
import { clockOf } from '../../lambda/clock';
import { METRIC } from '../../lambda/contracts/metrics';
import type { TableRegions } from '../../lambda/contracts/region-owned-items';
import { ServiceMetrics } from '../../lambda/service-metrics';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import {
  type KmsEndpoint,
  kmsClient,
  multiRegionKey,
  startKmsEndpoint,
} from '../../local/loopback/kms-endpoint';
import { localSealer } from '../../local/sealing';
import { EVICT_OUTCOME_HEADER } from '../../packages/client/src/wire-contract';
import { createTestTable, type TestTable, tableThrough, watchLeaseRefusals } from '../support/dynamodb';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import { deliver, type RecordedTable, recordWrites } from '../support/replication';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const NORTH: TableRegions = { own: 'eu-north-1', peers: ['eu-west-1'] };
const WEST: TableRegions = { own: 'eu-west-1', peers: ['eu-north-1'] };
const SECRETS = { 'tvm/two': { client_id: 'two-regions-client', client_secret: 'two-regions-secret' } };

/**
 * Two regions of one deployment, each a whole service over a table of its own in DynamoDB Local, and a
 * replicating stand-in (DynamoDB Local has no global tables) that applies one table's writes to the other
 * only when a test delivers them: lag, a cut-off region, and out-of-order delivery are the test's to choose.
 * Sealing is real envelope encryption under a loopback KMS per region holding one multi-Region key.
 */
describe('Two regions over a replicated table', () => {
  let provider: FakeProvider;
  let north: TestTable;
  let west: TestTable;
  let kmsNorth: KmsEndpoint;
  let kmsWest: KmsEndpoint;
  const log = new RecordingLog();
  const open: Array<{ close(): Promise<void> }> = [];
  let providerSeq = 0;

  beforeAll(async () => {
    const key = multiRegionKey();
    [provider, north, west, kmsNorth, kmsWest] = await Promise.all([
      startFakeProvider(),
      createTestTable(),
      createTestTable(),
      startKmsEndpoint(undefined, { region: NORTH.own, key }),
      startKmsEndpoint(undefined, { region: WEST.own, key }),
    ]);
  });

  afterAll(async () => {
    await Promise.all(open.map((instance) => instance.close()));
    await Promise.all([provider.close(), north.dispose(), west.dispose(), kmsNorth.close(), kmsWest.close()]);
  });

  /** A provider entry of its own per test: no test sees another's tokens, leases or counters. */
  function entry(overrides: Record<string, unknown> = {}) {
    providerSeq += 1;
    return {
      id: `two-${providerSeq}`,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/two',
      callers: [ORDERS_ROLE],
      timeoutMs: 2000,
      ...overrides,
    };
  }

  /** The region's own replica of the multi-Region key, as `TVM_SEALING_KEY_ID` names it there. */
  const sealerFor = (kms: KmsEndpoint) =>
    new EnvelopeSealer({ dataKeys: new KmsDataKeys({ client: kmsClient(kms), keyId: kms.keyId }) });

  async function instance(
    regions: TableRegions,
    table: TestTable,
    providerEntry: Record<string, unknown>,
    now?: () => number,
  ): Promise<TestService> {
    const started = await startTestService({
      providers: [providerEntry],
      secrets: SECRETS,
      table,
      regions,
      sealer: sealerFor(regions === NORTH ? kmsNorth : kmsWest),
      log,
      ...(now ? { now } : {}),
    });
    open.push(started);
    return started;
  }

  const requestLines = (providerId: string) =>
    log.entries().filter((line) => line.message === 'request' && line.provider === providerId);

  it('a token fetched in one region is a table hit in the other once replicated, opened under its own replica', async () => {
    const providerEntry = entry();
    const northTable = recordWrites(north);
    const inNorth = await instance(NORTH, northTable.table, providerEntry);
    const inWest = await instance(WEST, west, providerEntry);
    const before = provider.requests.length;

    const fetched = await inNorth.vend(providerEntry.id);
    assert.equal(fetched.status, 200);
    assert.equal(provider.requests.length - before, 1);
    assert.ok((await deliver(northTable, west)) > 0);

    const decryptsBefore = kmsWest.calls.filter((call) => call === 'Decrypt').length;
    const served = await inWest.vend(providerEntry.id);
    assert.equal(served.status, 200);
    assert.equal(served.json.access_token, fetched.json.access_token);
    assert.equal(provider.requests.length - before, 1, 'the west asked no one');
    const line = requestLines(providerEntry.id).at(-1);
    assert.equal(line?.cache, 'table');
    assert.equal(line?.peer_region, NORTH.own);
    // Opened in the west, by the west's KMS, under the west's replica ARN.
    assert.equal(kmsWest.calls.filter((call) => call === 'Decrypt').length, decryptsBefore + 1);
    await northTable.table.dispose();
  });

  it('counts a table hit from another region as PeerTableHits, by provider', () => {
    const recorded: string[] = [];
    class RecordingMetrics extends Metrics {
      override addMetric(...args: Parameters<Metrics['addMetric']>): this {
        recorded.push(args[0]);
        return super.addMetric(...args);
      }
      // Nothing printed: the test reads what was added.
      override publishStoredMetrics(): this {
        this.clearMetrics();
        return this;
      }
    }
    const metrics = new ServiceMetrics(
      new RecordingMetrics({ namespace: 'TokenVending', serviceName: 'token-vending' }),
      new Set(['p']),
    );
    metrics.request({ provider: 'p', status: 200, cache: 'table' });
    assert.deepEqual(recorded, []);
    metrics.request({ provider: 'p', status: 200, cache: 'table', peer_region: 'eu-north-1' });
    assert.deepEqual(recorded, [METRIC.peerTableHits]);
  });

  it('cut off from each other, each region fetches once under its own lease: 50 concurrent vends in each, one upstream request per region', async () => {
    const providerEntry = entry();
    const watchedNorth = watchLeaseRefusals(north);
    const watchedWest = watchLeaseRefusals(west);
    const group = [
      await instance(NORTH, watchedNorth.table, providerEntry),
      await instance(NORTH, watchedNorth.table, providerEntry),
      await instance(WEST, watchedWest.table, providerEntry),
      await instance(WEST, watchedWest.table, providerEntry),
    ];
    const before = provider.requests.length;
    // Each holder's answer waits until the other instance of its region has been refused the lease.
    let index = 0;
    provider.setBehaviour(async () => {
      // Taken before the wait: both regions' requests may arrive before either is answered.
      index += 1;
      const token = `cut-off-${index}`;
      await Promise.all([watchedNorth.refused(1), watchedWest.refused(1)]);
      return { status: 200, body: { access_token: token, token_type: 'Bearer', expires_in: 3600 } };
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, call) => {
          const target = group[call % group.length];
          assert.ok(target);
          return target.vend(providerEntry.id);
        }),
      );
      assert.ok(results.every((result) => result.status === 200));
      assert.equal(provider.requests.length - before, 2, 'one upstream request per region');
      const tokensOf = (members: TestService[]) =>
        new Set(
          results
            .filter((_, call) => members.includes(group[call % group.length] as TestService))
            .map((result) => result.json.access_token),
        );
      assert.equal(tokensOf(group.slice(0, 2)).size, 1);
      assert.equal(tokensOf(group.slice(2)).size, 1);
      assert.notDeepEqual(tokensOf(group.slice(0, 2)), tokensOf(group.slice(2)));
    } finally {
      provider.setBehaviour((_request, count) => ({
        status: 200,
        body: { access_token: `fake-token-${count}`, token_type: 'Bearer', expires_in: 3600 },
      }));
      await Promise.all([watchedNorth.table.dispose(), watchedWest.table.dispose()]);
    }
  });

  it("an evict in one region of the other region's token stops that region serving it; the other keeps it", async () => {
    const providerEntry = entry();
    const northTable = recordWrites(north);
    const inNorth = await instance(NORTH, northTable.table, providerEntry);
    const inWest = await instance(WEST, west, providerEntry);
    const before = provider.requests.length;
    const fetched = String((await inNorth.vend(providerEntry.id)).json.access_token);
    await deliver(northTable, west);
    assert.equal((await inWest.vend(providerEntry.id)).json.access_token, fetched);

    const evicted = await inWest.evict(providerEntry.id);
    assert.equal(evicted.status, 204);
    assert.equal(evicted.headers.get(EVICT_OUTCOME_HEADER), 'evicted');
    // The west fetches its own; a west container that never held the token in memory does not serve it either.
    const renewed = await inWest.vend(providerEntry.id);
    assert.notEqual(renewed.json.access_token, fetched);
    assert.equal(provider.requests.length - before, 2);
    const otherWest = await instance(WEST, west, providerEntry);
    assert.equal((await otherWest.vend(providerEntry.id)).json.access_token, renewed.json.access_token);
    // The north's item is the north's: it still serves the token the west evicted.
    const otherNorth = await instance(NORTH, north, providerEntry);
    assert.equal((await otherNorth.vend(providerEntry.id)).json.access_token, fetched);
    assert.equal(provider.requests.length - before, 2);
    await northTable.table.dispose();
  });

  it('late and out-of-order replication never loses a write: each item has one writer', async () => {
    const providerEntry = entry();
    const northTable = recordWrites(north);
    const westTable = recordWrites(west);
    const inNorth = await instance(NORTH, northTable.table, providerEntry);
    const inWest = await instance(WEST, westTable.table, providerEntry);
    assert.equal((await inWest.vend(providerEntry.id)).status, 200);
    // The north fetches, evicts and fetches again: its item has an older and a newer image.
    await inNorth.vend(providerEntry.id);
    await inNorth.evict(providerEntry.id);
    const northToken = String((await inNorth.vend(providerEntry.id)).json.access_token);
    const before = provider.requests.length;
    const key = cacheKey({
      providerId: providerEntry.id,
      tokenEndpoint: provider.tokenEndpoint,
      clientId: 'two-regions-client',
      scopes: [],
    });
    const ownItem = async (table: TestTable, regions: TableRegions) =>
      (
        await table.client.send(
          new GetItemCommand({
            TableName: table.tableName,
            Key: { pk: { S: `${regions.own}#${key}` } },
            ConsistentRead: true,
          }),
        )
      ).Item;
    const [westItem, northItem] = [await ownItem(west, WEST), await ownItem(north, NORTH)];
    assert.ok(westItem?.sealed && northItem?.sealed);
    // Delivered late, newest first: the west's replica of the north's item ends at an older image.
    assert.ok((await deliver(northTable, west, 'newest first')) >= 3);
    assert.ok((await deliver(westTable, north, 'newest first')) >= 1);

    // Neither region's own item was touched by the other's writes.
    assert.deepEqual(await ownItem(west, WEST), westItem);
    assert.deepEqual(await ownItem(north, NORTH), northItem);
    // Both regions keep serving without asking anyone.
    const freshWest = await instance(WEST, west, providerEntry);
    const freshNorth = await instance(NORTH, north, providerEntry);
    assert.equal((await freshWest.vend(providerEntry.id)).status, 200);
    assert.equal((await freshNorth.vend(providerEntry.id)).json.access_token, northToken);
    assert.equal(provider.requests.length, before);
    await Promise.all([northTable.table.dispose(), westTable.table.dispose()]);
  });

  describe('an evict with two regions', () => {
    const keyOf = (providerEntry: { id: string }) =>
      cacheKey({
        providerId: providerEntry.id,
        tokenEndpoint: provider.tokenEndpoint,
        clientId: 'two-regions-client',
        scopes: [],
      });
    const ownItem = async (table: TestTable, regions: TableRegions, key: string) =>
      (
        await table.client.send(
          new GetItemCommand({
            TableName: table.tableName,
            Key: { pk: { S: `${regions.own}#${key}` } },
            ConsistentRead: true,
          }),
        )
      ).Item;

    it("of the other region's token makes the next vend fetch: the region's own older token is not served", async () => {
      const providerEntry = entry();
      const northTable = recordWrites(north);
      const inNorth = await instance(NORTH, northTable.table, providerEntry);
      const inWest = await instance(WEST, west, providerEntry);
      // The west's own token first (shorter-lived), then the north's: the north's is issued no earlier.
      provider.enqueue(grant('west-own-older', { expires_in: 1800 }));
      assert.equal((await inWest.vend(providerEntry.id)).json.access_token, 'west-own-older');
      provider.enqueue(grant('north-peer', { expires_in: 3600 }));
      assert.equal((await inNorth.vend(providerEntry.id)).json.access_token, 'north-peer');
      await deliver(northTable, west);
      // A west container with nothing in memory serves the longer-lived north token from the table.
      const evicting = await instance(WEST, west, providerEntry);
      assert.equal((await evicting.vend(providerEntry.id)).json.access_token, 'north-peer');
      const before = provider.requests.length;

      const evicted = await evicting.evict(providerEntry.id);
      assert.equal(evicted.headers.get(EVICT_OUTCOME_HEADER), 'evicted');
      const next = await evicting.vend(providerEntry.id);
      assert.equal(provider.requests.length - before, 1, 'the next vend fetches');
      assert.ok(!['west-own-older', 'north-peer'].includes(String(next.json.access_token)));
      // So does every west container: the fetched token, never an older one.
      const another = await instance(WEST, west, providerEntry);
      assert.equal((await another.vend(providerEntry.id)).json.access_token, next.json.access_token);
      assert.equal(provider.requests.length - before, 1);
      await northTable.table.dispose();
    });

    it("of the region's own token makes the next vend fetch: the other region's older token is not served", async () => {
      const providerEntry = entry();
      const northTable = recordWrites(north);
      const inNorth = await instance(NORTH, northTable.table, providerEntry);
      const inWest = await instance(WEST, west, providerEntry);
      // The north's first (shorter-lived), then the west's own: the north's is issued no later.
      provider.enqueue(grant('north-older', { expires_in: 1800 }));
      assert.equal((await inNorth.vend(providerEntry.id)).json.access_token, 'north-older');
      provider.enqueue(grant('west-own', { expires_in: 3600 }));
      assert.equal((await inWest.vend(providerEntry.id)).json.access_token, 'west-own');
      await deliver(northTable, west);
      const evicting = await instance(WEST, west, providerEntry);
      assert.equal((await evicting.vend(providerEntry.id)).json.access_token, 'west-own');
      const before = provider.requests.length;

      assert.equal((await evicting.evict(providerEntry.id)).headers.get(EVICT_OUTCOME_HEADER), 'evicted');
      const next = await evicting.vend(providerEntry.id);
      assert.equal(provider.requests.length - before, 1, 'the next vend fetches');
      assert.ok(!['north-older', 'west-own'].includes(String(next.json.access_token)));
      // The north's item is the north's: it still serves its token there.
      const otherNorth = await instance(NORTH, north, providerEntry);
      assert.equal((await otherNorth.vend(providerEntry.id)).json.access_token, 'north-older');
      await northTable.table.dispose();
    });

    it("keeps the region's item (TTL) until the evicted peer token has expired, while its own token's expiry still counts", async () => {
      const providerEntry = entry();
      const northTable = recordWrites(north);
      const inNorth = await instance(NORTH, northTable.table, providerEntry);
      provider.enqueue(grant('north-long', { expires_in: 7200 }));
      const fetched = await inNorth.vend(providerEntry.id);
      const peerExpiresAt = Math.floor(Date.parse(String(fetched.json.expires_at)) / 1000);
      await deliver(northTable, west);
      const inWest = await instance(WEST, west, providerEntry);
      assert.equal((await inWest.vend(providerEntry.id)).json.access_token, 'north-long');
      assert.equal((await inWest.evict(providerEntry.id)).headers.get(EVICT_OUTCOME_HEADER), 'evicted');
      // The west's own token lives far shorter than the north's it evicted.
      provider.enqueue(grant('west-short', { expires_in: 600 }));
      const renewed = await inWest.vend(providerEntry.id);
      assert.equal(renewed.json.access_token, 'west-short');
      const key = keyOf(providerEntry);
      const item = await ownItem(west, WEST, key);
      assert.ok(
        Number(item?.expiresAt?.N) >= peerExpiresAt,
        `the item's TTL (${item?.expiresAt?.N}) is not before the evicted token's expiry (${peerExpiresAt})`,
      );
      // Past the own token's expiry (but before the TTL) the west serves neither token.
      const later = new DynamoDbTier({
        client: west.client,
        tableName: west.tableName,
        sealer: sealerFor(kmsWest),
        regions: WEST,
        clock: clockOf(() => Date.now() + 601_000),
      });
      assert.equal((await later.read(key))?.token, undefined);
      await northTable.table.dispose();
    });

    it("of the other region's token by many callers at once applies once: one caller is charged", async () => {
      // One eviction a minute for the caller: a second charge would answer 429.
      const providerEntry = entry({ upstreamBudget: { evictionsPerCallerPerMinute: 1 } });
      const northTable = recordWrites(north);
      const inNorth = await instance(NORTH, northTable.table, providerEntry);
      const fetched = String((await inNorth.vend(providerEntry.id)).json.access_token);
      await deliver(northTable, west);
      const evictors = await Promise.all(
        Array.from({ length: 4 }, () => instance(WEST, west, providerEntry)),
      );
      for (const evictor of evictors) {
        assert.equal((await evictor.vend(providerEntry.id)).json.access_token, fetched);
      }
      const evictions = await Promise.all(
        evictors.flatMap((evictor) => Array.from({ length: 3 }, () => evictor.evict(providerEntry.id))),
      );
      assert.deepEqual(
        evictions.map((response) => response.status),
        evictions.map(() => 204),
        'none charged twice',
      );
      const outcomes = log
        .entries()
        .filter((line) => line.provider === providerEntry.id && line.evict !== undefined);
      assert.ok(outcomes.some((line) => line.evict === 'evicted'));
      const key = keyOf(providerEntry);
      assert.ok((await ownItem(west, WEST, key))?.evictedBy?.S, 'the evict is recorded, with its payment');
      await northTable.table.dispose();
    });

    it("of the other region's token over a corrupt own item applies: the item is rewritten with the floor, once", async () => {
      const providerEntry = entry({ upstreamBudget: { evictionsPerCallerPerMinute: 1 } });
      const northTable = recordWrites(north);
      const inNorth = await instance(NORTH, northTable.table, providerEntry);
      provider.enqueue(grant('north-behind-corrupt', { expires_in: 3600 }));
      await inNorth.vend(providerEntry.id);
      await deliver(northTable, west);
      const key = keyOf(providerEntry);
      // An own item no writer of this service leaves: read as absent, so the north's token is served past it.
      await west.client.send(
        new PutItemCommand({
          TableName: west.tableName,
          Item: { pk: { S: `${WEST.own}#${key}` }, failures: { S: 'not a number' }, rev: { S: 'seen' } },
        }),
      );
      const evictors = await Promise.all([1, 2, 3].map(() => instance(WEST, west, providerEntry)));
      for (const evictor of evictors) {
        assert.equal((await evictor.vend(providerEntry.id)).json.access_token, 'north-behind-corrupt');
      }
      const before = provider.requests.length;

      // One eviction a minute for the caller: a second charge would answer 429.
      const evictions = await Promise.all(evictors.map((evictor) => evictor.evict(providerEntry.id)));
      assert.deepEqual(
        evictions.map((response) => response.status),
        [204, 204, 204],
        'none charged twice',
      );
      assert.equal(
        evictions.filter((response) => response.headers.get(EVICT_OUTCOME_HEADER) === 'evicted').length,
        1,
      );
      const item = await ownItem(west, WEST, key);
      assert.equal(item?.failures, undefined, 'the bad attribute is gone');
      assert.ok(item?.issuedFloor?.N && item.evictedBy?.S, 'the floor and the payment are recorded');
      const next = await evictors[0]?.vend(providerEntry.id);
      assert.notEqual(next?.json.access_token, 'north-behind-corrupt');
      assert.equal(provider.requests.length - before, 1, 'the next vend fetches');
      await northTable.table.dispose();
    });

    it('a lease over a corrupt item never moves the TTL an issued floor needs earlier; a bad TTL takes the floor with it', async () => {
      const providerEntry = entry();
      const northTable = recordWrites(north);
      const inNorth = await instance(NORTH, northTable.table, providerEntry);
      provider.enqueue(grant('north-floored', { expires_in: 7200 }));
      const fetched = await inNorth.vend(providerEntry.id);
      const peerExpiresAt = Math.floor(Date.parse(String(fetched.json.expires_at)) / 1000);
      await deliver(northTable, west);
      const inWest = await instance(WEST, west, providerEntry);
      assert.equal((await inWest.vend(providerEntry.id)).json.access_token, 'north-floored');
      assert.equal((await inWest.evict(providerEntry.id)).headers.get(EVICT_OUTCOME_HEADER), 'evicted');
      const key = keyOf(providerEntry);
      const pk = { S: `${WEST.own}#${key}` };
      const tier = new DynamoDbTier({
        client: west.client,
        tableName: west.tableName,
        sealer: sealerFor(kmsWest),
        regions: WEST,
      });
      const corruptThenLease = async (update: string, values: Record<string, AttributeValue>) => {
        await west.client.send(
          new UpdateItemCommand({
            TableName: west.tableName,
            Key: { pk },
            UpdateExpression: update,
            ExpressionAttributeValues: values,
          }),
        );
        const leased = await tier.acquire(key, 5000, undefined);
        assert.equal(leased.kind, 'acquired');
        return leased.kind === 'acquired' ? leased.lease : assert.fail('no lease');
      };

      // Another attribute bad: the floor stays, and so does the TTL it needs, through the lease and the store.
      const lease = await corruptThenLease('SET lastError = :bad', { ':bad': { S: 'no such code' } });
      const leased = await ownItem(west, WEST, key);
      assert.ok(leased?.issuedFloor?.N, 'the floor survives');
      assert.ok(Number(leased?.expiresAt?.N) >= peerExpiresAt, `TTL ${leased?.expiresAt?.N} kept`);
      const nowSeconds = Math.floor(Date.now() / 1000);
      await tier.release(lease, {
        kind: 'succeeded',
        token: { accessToken: 'west-short', issuedAt: nowSeconds, expiresAt: nowSeconds + 600 },
        providerId: providerEntry.id,
      });
      assert.ok(Number((await ownItem(west, WEST, key))?.expiresAt?.N) >= peerExpiresAt);

      // The TTL itself bad: nothing tells how long the floor is needed, so the floor goes with it.
      await corruptThenLease('SET expiresAt = :bad', { ':bad': { S: 'not a number' } });
      const rewritten = await ownItem(west, WEST, key);
      assert.equal(rewritten?.issuedFloor, undefined);
      assert.ok(rewritten?.expiresAt?.N, 'a TTL again');
      await northTable.table.dispose();
    });

    it('of a remembered peer token whose item was left unprocessed acts on no other token', async () => {
      const providerEntry = entry();
      let offsetMs = 0;
      const now = () => Date.now() + offsetMs;
      const northTable = recordWrites(north);
      const inNorth = await instance(NORTH, northTable.table, providerEntry, now);
      // The west's own token, then (once it has expired) the north's: the west's item keeps a version.
      provider.enqueue(grant('west-expiring', { expires_in: 600 }));
      assert.equal(
        (await (await instance(WEST, west, providerEntry, now)).vend(providerEntry.id)).json.access_token,
        'west-expiring',
      );
      offsetMs = 601_000;
      provider.enqueue(grant('north-remembered', { expires_in: 3600 }));
      await inNorth.vend(providerEntry.id);
      await deliver(northTable, west);
      // Fault injection (no local part leaves keys unprocessed): while armed, this client's BatchGetItem
      // leaves the other region's key unprocessed, as a throttled BatchGetItem does.
      const faulty = unprocessedPeerKeys(west, NORTH.own);
      const evicting = await instance(WEST, faulty.table, providerEntry, now);
      assert.equal((await evicting.vend(providerEntry.id)).json.access_token, 'north-remembered');
      const key = keyOf(providerEntry);
      const before = await ownItem(west, WEST, key);

      faulty.armed = true;
      const evicted = await evicting.evict(providerEntry.id);
      faulty.armed = false;
      assert.ok(faulty.leftUnprocessed > 0, 'the fault was injected');
      assert.equal(evicted.status, 204);
      assert.equal(evicted.headers.get(EVICT_OUTCOME_HEADER), 'not_current');
      // The own item was neither evicted nor charged to the caller.
      const after = await ownItem(west, WEST, key);
      assert.deepEqual(after, before);
      assert.equal(after?.evictedBy, undefined);
      await Promise.all([northTable.table.dispose(), faulty.table.dispose()]);
    });
  });

  it("serves the own token when another region's token cannot be opened now (the key service failing), and says so once", async () => {
    const key = `unopened-${providerSeq++}`;
    const westTable = recordWrites(west);
    const inWest = new DynamoDbTier({ ...tableOf(westTable), sealer: sealerFor(kmsWest), regions: WEST });
    const tierLog = new RecordingLog();
    const inNorth = new DynamoDbTier({
      client: north.client,
      tableName: north.tableName,
      sealer: sealerFor(kmsNorth),
      regions: NORTH,
      log: tierLog,
    });
    const nowSeconds = Math.floor(Date.now() / 1000);
    const peerToken = {
      accessToken: 'west-longer-secret',
      issuedAt: nowSeconds,
      expiresAt: nowSeconds + 3600,
    };
    const ownToken = { accessToken: 'north-own', issuedAt: nowSeconds, expiresAt: nowSeconds + 1800 };
    await inWest.store(key, peerToken, 'p');
    await deliver(westTable, north);
    // Sealed here: its data key stays in this container, so it opens without the key service.
    await inNorth.store(key, ownToken, 'p');
    // Another north container (its own data keys: it asks KMS for both) serves the longer-lived west token.
    const otherNorth = new DynamoDbTier({
      client: north.client,
      tableName: north.tableName,
      sealer: sealerFor(kmsNorth),
      regions: NORTH,
    });
    assert.deepEqual((await otherNorth.read(key))?.token, peerToken);
    kmsNorth.setDisabled(true);
    try {
      for (let read = 0; read < 2; read++) {
        const item = await inNorth.read(key);
        assert.deepEqual(item?.token, ownToken);
        assert.equal(item?.peer, undefined);
      }
    } finally {
      kmsNorth.setDisabled(false);
    }
    const lines = tierLog.entries().filter((line) => line.event === 'peer_token_unopened');
    assert.equal(lines.length, 1, 'said once');
    assert.equal(lines[0]?.peer_region, WEST.own);
    assertNothingSensitive(tierLog.lines, [peerToken.accessToken, ownToken.accessToken]);
    await westTable.table.dispose();
  });

  describe('budgets are counted per region', () => {
    const windowEndsMs = Date.now() + 60_000;
    const spendAll = (ledger: DynamoDbBudgetLedger, counter: string, times: number) =>
      Promise.all(Array.from({ length: times }, () => ledger.spend(counter, 5, windowEndsMs)));

    it('with the region rule, replication in any order leaves every region its own count', async () => {
      const northTable = recordWrites(north);
      const westTable = recordWrites(west);
      const inNorth = new DynamoDbBudgetLedger({ ...tableOf(northTable), regions: NORTH });
      const inWest = new DynamoDbBudgetLedger({ ...tableOf(westTable), regions: WEST });
      const counter = `per-region-${providerSeq++}`;
      assert.deepEqual(await spendAll(inNorth, counter, 3), [true, true, true]);
      assert.deepEqual(await spendAll(inWest, counter, 1), [true]);
      await deliver(northTable, west, 'newest first');
      await deliver(westTable, north, 'newest first');
      // The west counted one: four more of its five are left, whatever the north's copy says.
      assert.deepEqual((await spendAll(inWest, counter, 5)).sort(), [false, true, true, true, true]);
      assert.deepEqual((await spendAll(inNorth, counter, 3)).sort(), [false, true, true]);
      await Promise.all([northTable.table.dispose(), westTable.table.dispose()]);
    });

    it('without it, the stand-in is a real last writer wins: the west loses what it counted', async () => {
      const northTable = recordWrites(north);
      const westTable = recordWrites(west);
      const inNorth = new DynamoDbBudgetLedger(tableOf(northTable));
      const inWest = new DynamoDbBudgetLedger(tableOf(westTable));
      const counter = `shared-key-${providerSeq++}`;
      await spendAll(inWest, counter, 1);
      await spendAll(inNorth, counter, 3);
      await deliver(northTable, west);
      // The north's image replaced the west's item: the west's spend is gone (3, not 4, counted there).
      assert.deepEqual((await spendAll(inWest, counter, 3)).sort(), [false, true, true]);
      await Promise.all([northTable.table.dispose(), westTable.table.dispose()]);
    });
  });

  it("names the region in every partition key with regions, and leaves today's layout without", async () => {
    const key = 'layout-key';
    const token = {
      accessToken: 'layout-token',
      issuedAt: 1,
      expiresAt: Math.floor(Date.now() / 1000) + 600,
    };
    const has = async (partitionKey: string) =>
      (
        await north.client.send(
          new GetItemCommand({ TableName: north.tableName, Key: { pk: { S: partitionKey } } }),
        )
      ).Item !== undefined;
    await new DynamoDbTier({ client: north.client, tableName: north.tableName, sealer: localSealer() }).store(
      key,
      token,
      'p',
    );
    assert.equal(await has(key), true);
    await new DynamoDbTier({
      client: north.client,
      tableName: north.tableName,
      sealer: localSealer(),
      regions: NORTH,
    }).store(`${key}-2`, token, 'p');
    assert.equal(await has(`eu-north-1#${key}-2`), true);
    assert.equal(await has(`${key}-2`), false);
  });

  it('a data key made in one region decrypts in the other under its replica ARN, not under an unrelated key', async () => {
    const context = { service: 'token-vending', provider: 'p' };
    const made = await kmsClient(kmsNorth).send(
      new GenerateDataKeyCommand({ KeyId: kmsNorth.keyId, KeySpec: 'AES_256', EncryptionContext: context }),
    );
    assert.notEqual(kmsNorth.keyId, kmsWest.keyId);
    assert.equal(kmsNorth.keyId.replace(NORTH.own, WEST.own), kmsWest.keyId);
    const opened = await kmsClient(kmsWest).send(
      new DecryptCommand({
        KeyId: kmsWest.keyId,
        CiphertextBlob: made.CiphertextBlob,
        EncryptionContext: context,
      }),
    );
    assert.deepEqual(opened.Plaintext, made.Plaintext);
    // The north's ARN is not a key of the west's KMS.
    await assert.rejects(
      kmsClient(kmsWest).send(
        new DecryptCommand({
          KeyId: kmsNorth.keyId,
          CiphertextBlob: made.CiphertextBlob,
          EncryptionContext: context,
        }),
      ),
      { name: 'NotFoundException' },
    );
    const unrelated = await startKmsEndpoint(undefined, { region: WEST.own });
    try {
      await assert.rejects(
        kmsClient(unrelated).send(
          new DecryptCommand({
            KeyId: unrelated.keyId,
            CiphertextBlob: made.CiphertextBlob,
            EncryptionContext: context,
          }),
        ),
        { name: 'InvalidCiphertextException' },
      );
    } finally {
      await unrelated.close();
    }
  });
});

/**
 * A client on `table` whose BatchGetItem, while armed, asks DynamoDB for all but the keys of `region` and
 * answers those as unprocessed: the fault a throttled BatchGetItem returns, which DynamoDB Local never does.
 */
function unprocessedPeerKeys(table: TestTable, region: string) {
  const fault = { armed: false, leftUnprocessed: 0, table };
  fault.table = tableThrough(table, (client) =>
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (!fault.armed || context.commandName !== 'BatchGetItemCommand') return next(args);
        const input = args.input as BatchGetItemCommandInput;
        const [tableName, request] = Object.entries(input.RequestItems ?? {})[0] ?? [];
        if (!tableName || !request?.Keys) return next(args);
        const isPeer = (key: Record<string, AttributeValue>) => key.pk?.S?.startsWith(`${region}#`) === true;
        const left = request.Keys.filter(isPeer);
        const asked = request.Keys.filter((key) => !isPeer(key));
        fault.leftUnprocessed += left.length;
        const unprocessed = left.length > 0 ? { [tableName]: { ...request, Keys: left } } : {};
        if (asked.length === 0) {
          return {
            output: { $metadata: {}, Responses: { [tableName]: [] }, UnprocessedKeys: unprocessed },
            response: {},
          };
        }
        const result = await next({
          ...args,
          input: { ...input, RequestItems: { [tableName]: { ...request, Keys: asked } } },
        });
        const output = result.output as BatchGetItemCommandOutput;
        return { ...result, output: { ...output, UnprocessedKeys: unprocessed } };
      },
      { step: 'initialize', name: 'unprocessedPeerKeys' },
    ),
  );
  return fault;
}

const tableOf = (recorded: RecordedTable) => ({
  client: recorded.table.client,
  tableName: recorded.table.tableName,
});
