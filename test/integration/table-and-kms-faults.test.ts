import assert from 'node:assert/strict';
import { type AttributeValue, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbBudgetLedger, InProcessBudgetLedger } from '../../lambda/budget/budget-ledger';
import { CallerCounterNames, RandomCounterKey } from '../../lambda/budget/caller-counter-names';
import { UpstreamBudget } from '../../lambda/budget/upstream-budget';
import { cacheKey } from '../../lambda/cache/cache-key';
import { DependencyBypass } from '../../lambda/cache/dependency-bypass';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { type FaultProxy, startFaultProxy } from '../../local/fault-proxy';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { type KmsEndpoint, startKmsEndpoint } from '../../local/loopback/kms-endpoint';
import { createTestTable, dynamoDbClient, type TestTable } from '../support/dynamodb';
import { startInstances } from '../support/instances';
import { kmsSealerAt } from '../support/kms-sealer';
import { RecordingLog } from '../support/recording-log';
import { ORDERS_ROLE, startTestService } from '../support/test-service';

const SECRET = 'kms-faults-client-secret';
const secrets = { 'tvm/kms-faults': { client_id: 'kms-faults-client', client_secret: SECRET } };

/**
 * What a key (one cache item) does when KMS or the table misbehaves, or the item was written by someone
 * else: on DynamoDB Local and the loopback KMS, each behind a fault proxy that hangs, refuses or throttles.
 * Nothing here can wedge a key: every case answers within a bound, and the item heals.
 */
describe('Table and KMS faults', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let kms: KmsEndpoint;
  let kmsProxy: FaultProxy;
  const closers: Array<() => Promise<void>> = [];
  let providerSeq = 0;

  const entry = () => {
    providerSeq += 1;
    return {
      id: `kmsf-${providerSeq}`,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/kms-faults',
      callers: [ORDERS_ROLE],
      allowedScopes: ['a', 'b', 'c', 'd'],
      defaultScopes: ['a'],
      timeoutMs: 1000,
    };
  };
  const keyOf = (providerId: string, scopes = ['a']) =>
    cacheKey({ providerId, tokenEndpoint: provider.tokenEndpoint, clientId: 'kms-faults-client', scopes });

  /** A sealer on the loopback KMS through the fault proxy, bounded as the function's is (shorter here). */
  const kmsSealer = () => kmsSealerAt(kmsProxy.endpoint, kms);

  const start = async (
    log: RecordingLog,
    providerEntry: Record<string, unknown>,
    through: TestTable = table,
  ) => {
    const service = await startTestService({
      providers: [providerEntry],
      secrets,
      table: through,
      log,
      sealer: kmsSealer(),
    });
    closers.push(() => service.close());
    return service;
  };

  const rawItem = async (key: string) =>
    (
      await table.client.send(
        new GetItemCommand({ TableName: table.tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
      )
    ).Item;

  beforeAll(async () => {
    [provider, table, kms] = await Promise.all([startFakeProvider(), createTestTable(), startKmsEndpoint()]);
    kmsProxy = await startFaultProxy(kms.endpoint);
    provider.setBehaviour((_request, index) => grant(`kmsf-${index}`));
  });

  afterEach(() => kmsProxy.set({ kind: 'pass' }));

  afterAll(async () => {
    for (const close of closers) await close();
    await kmsProxy.close();
    await Promise.all([provider.close(), table.dispose(), kms.close()]);
  });

  it.each(['refuse', 'hang'] as const)(
    'with KMS failing (%s), cold containers each vend once and leave no lease behind; recovered, a cold vend does not wait',
    async (fault) => {
      kmsProxy.set({ kind: fault });
      const providerEntry = entry();
      const log = new RecordingLog();
      const group = await startInstances(3, {
        providers: [providerEntry],
        secrets,
        table,
        log,
        sealer: kmsSealer(),
      });
      closers.push(() => group.close());
      const before = provider.requests.length;
      const started = Date.now();
      const responses = await Promise.all(group.burst(providerEntry.id, 15));
      for (const response of responses) assert.equal(response.status, 200, response.text);
      assert.ok(Date.now() - started < 6000, `answered in ${Date.now() - started} ms`);
      assert.ok(provider.requests.length - before <= 3, 'one upstream request per container at most');
      const item = await rawItem(keyOf(providerEntry.id));
      assert.ok(!(Number(item?.leaseUntil?.N ?? 0) > Date.now()), 'no lease left on the item');
      assert.equal(item?.sealed, undefined, 'nothing written unsealed');
      assert.ok(log.entries().some((line) => line.event === 'sealing_unavailable'));
      assert.ok(!log.entries().some((line) => line.event === 'cache_table_error'), 'KMS is not the table');
      kmsProxy.set({ kind: 'pass' });
      const cold = await start(new RecordingLog(), providerEntry);
      const t0 = Date.now();
      const recovered = await cold.vend(providerEntry.id);
      assert.equal(recovered.status, 200, recovered.text);
      assert.ok(Date.now() - t0 < 2000, `a cold vend after recovery took ${Date.now() - t0} ms`);
    },
  );

  it('with KMS hung on a table hit, logs sealing_unavailable once, bypasses the table for a window, and vends', async () => {
    const providerEntry = entry();
    const writer = await start(new RecordingLog(), providerEntry);
    for (const scope of ['a', 'b'])
      assert.equal((await writer.vend(providerEntry.id, { scope })).status, 200);
    kmsProxy.set({ kind: 'hang' });
    const log = new RecordingLog();
    const reader = await start(log, providerEntry);
    const t0 = Date.now();
    const first = await reader.vend(providerEntry.id, { scope: 'a' });
    assert.equal(first.status, 200, first.text);
    const connections = kmsProxy.connections();
    const t1 = Date.now();
    const second = await reader.vend(providerEntry.id, { scope: 'b' });
    assert.equal(second.status, 200, second.text);
    assert.ok(t1 - t0 < 2000, `first vend took ${t1 - t0} ms`);
    assert.ok(Date.now() - t1 < 500, 'the second vend does not wait on KMS again');
    assert.equal(kmsProxy.connections(), connections, 'KMS is not asked again within the window');
    const events = log.entries().map((line) => line.event);
    assert.equal(events.filter((event) => event === 'sealing_unavailable').length, 1);
    assert.ok(!events.includes('cache_table_error'));
  });

  it('rejects every blob KMS refuses (another key, not a ciphertext) as sealed_token_rejected, an empty wrapped key without asking KMS', async () => {
    const providerEntry = entry();
    // The blob format as this service writes it: learnt from a token it sealed.
    const writer = await start(new RecordingLog(), providerEntry);
    await writer.vend(providerEntry.id, { scope: 'd' });
    const format = (await rawItem(keyOf(providerEntry.id, ['d'])))?.sealed?.B?.[0] ?? 0;
    const nowSeconds = Math.floor(Date.now() / 1000);
    const plant = (scope: string, wrapped: Buffer) => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(wrapped.length);
      return table.client.send(
        new PutItemCommand({
          TableName: table.tableName,
          Item: {
            pk: { S: keyOf(providerEntry.id, [scope]) },
            sealed: { B: Buffer.concat([Buffer.from([format]), length, wrapped, Buffer.alloc(40)]) },
            provider: { S: providerEntry.id },
            version: { S: 'planted' },
            generation: { N: '1' },
            issuedAt: { N: String(nowSeconds) },
            expiresAt: { N: String(nowSeconds + 3600) },
          },
        }),
      );
    };
    await plant('a', Buffer.alloc(0));
    await plant('b', Buffer.alloc(40, 7));
    await plant('c', Buffer.concat([Buffer.from([0xff]), Buffer.alloc(40, 1)]));
    const log = new RecordingLog();
    const service = await start(log, providerEntry);
    const decrypts = () => kms.calls.filter((call) => call === 'Decrypt').length;
    const before = decrypts();
    assert.equal((await service.vend(providerEntry.id, { scope: 'a' })).status, 200);
    assert.equal(decrypts(), before, 'an empty wrapped key is refused before KMS');
    for (const scope of ['b', 'c'])
      assert.equal((await service.vend(providerEntry.id, { scope })).status, 200);
    const events = log.entries().map((line) => line.event);
    assert.equal(events.filter((event) => event === 'sealed_token_rejected').length, 3);
    assert.ok(!events.includes('cache_table_error') && !events.includes('sealing_unavailable'));
  });

  it('cannot be made to serve an evicted token by putting its attributes back', async () => {
    const providerEntry = entry();
    const first = await start(new RecordingLog(), providerEntry);
    const vended = await first.vend(providerEntry.id);
    const key = keyOf(providerEntry.id);
    const before = await rawItem(key);
    assert.ok(before);
    assert.equal((await first.evict(providerEntry.id)).status, 204);
    const after = (await rawItem(key)) ?? {};
    // A table writer restores the token's attributes onto the item; what the evict left stays.
    const restored: Record<string, AttributeValue> = { ...after };
    for (const name of ['sealed', 'issuedAt', 'expiresAt', 'version', 'provider', 'generation']) {
      const value = before[name];
      if (value) restored[name] = value;
    }
    await table.client.send(new PutItemCommand({ TableName: table.tableName, Item: restored }));
    const fresh = await start(new RecordingLog(), providerEntry);
    const again = await fresh.vend(providerEntry.id);
    assert.equal(again.status, 200, again.text);
    assert.notEqual(again.json.access_token, vended.json.access_token);
  });

  describe('items no writer of this service leaves', () => {
    const yearMs = 365 * 24 * 3600_000;
    const shapes: Array<[string, () => Record<string, AttributeValue>]> = [
      ['version as a number', () => ({ version: { N: '7' }, leaseUntil: { N: '0' } })],
      ['leaseUntil as a string', () => ({ leaseUntil: { S: String(Date.now() + 5000) }, owner: { S: 'x' } })],
      ['retryAt as a string', () => ({ retryAt: { S: String(Date.now() + 5000) } })],
      ['owner as a number', () => ({ owner: { N: '1' }, leaseUntil: { N: String(Date.now() + 5000) } })],
      ['failures as a string', () => ({ failures: { S: 'many' } })],
      [
        'lastError not an error code',
        () => ({ lastError: { S: 'oops' }, failedAt: { N: String(Date.now()) } }),
      ],
      ['sealed as a string', () => ({ sealed: { S: 'not bytes' }, version: { S: 'v' } })],
      ['rev as a number', () => ({ rev: { N: '1' }, leaseUntil: { S: 'x' } })],
      [
        'leaseUntil a year ahead',
        () => ({ owner: { S: 'planted' }, leaseUntil: { N: String(Date.now() + yearMs) } }),
      ],
      [
        'retryAt a year ahead',
        () => ({
          retryAt: { N: String(Date.now() + yearMs) },
          lastError: { S: 'upstream_unavailable' },
          failures: { N: '9' },
        }),
      ],
    ];
    it.each(shapes)(
      '%s: one vend answers 200 with one upstream request, and the item heals',
      async (_label, attributes) => {
        const providerEntry = entry();
        const key = keyOf(providerEntry.id);
        await table.client.send(
          new PutItemCommand({
            TableName: table.tableName,
            Item: {
              pk: { S: key },
              expiresAt: { N: String(Math.floor(Date.now() / 1000) + 3600) },
              ...attributes(),
            },
          }),
        );
        const log = new RecordingLog();
        const service = await start(log, providerEntry);
        const before = provider.requests.length;
        const t0 = Date.now();
        const response = await service.vend(providerEntry.id);
        assert.equal(response.status, 200, response.text);
        assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
        assert.equal(provider.requests.length - before, 1);
        const corruptLines = log.entries().filter((line) => line.event === 'cache_item_corrupt');
        assert.ok(corruptLines.length <= 1, 'logged once at most');
        const other = await start(new RecordingLog(), providerEntry);
        const healed = await other.vend(providerEntry.id);
        assert.equal(
          healed.json.access_token,
          response.json.access_token,
          'the next container reads the token',
        );
      },
    );
  });

  describe('budget counters', () => {
    const windowEnd = () => Math.floor(Date.now() / 60_000) * 60_000 + 60_000;
    it('ignores an impossible counter and counts on', async () => {
      const providerEntry = entry();
      const end = windowEnd();
      await table.client.send(
        new PutItemCommand({
          TableName: table.tableName,
          Item: {
            pk: { S: `budget#${providerEntry.id}#all#${end}` },
            spent: { N: '999999999' },
            expiresAt: { N: String(Math.ceil(end / 1000) + 120) },
          },
        }),
      );
      const log = new RecordingLog();
      const service = await start(log, providerEntry);
      const response = await service.vend(providerEntry.id);
      if (Date.now() < end) assert.equal(response.status, 200, response.text);
    });

    it('spends on the table within its bypass window: a hung table costs one timeout, logged timed_out', async () => {
      const hung = await startFaultProxy(table.endpoint, { kind: 'hang' });
      const client = dynamoDbClient(hung.endpoint);
      try {
        const log = new RecordingLog();
        const bypass = new DependencyBypass({ log });
        const budget = new UpstreamBudget({
          ledger: new DynamoDbBudgetLedger({ client, tableName: table.tableName, callTimeoutMs: 300 }),
          fallback: new InProcessBudgetLedger(),
          names: new CallerCounterNames(new RandomCounterKey()),
          log,
          bypass,
        });
        const [providerConfig] = parseProviderConfig({ providers: [entry()] }, 'test', 'local');
        assert.ok(providerConfig);
        const t0 = Date.now();
        await budget.charge('caller', providerConfig, 'charged');
        const t1 = Date.now();
        await budget.charge('caller', providerConfig, 'charged');
        assert.ok(t1 - t0 < 1000, `first charge ${t1 - t0} ms: one timeout`);
        assert.ok(Date.now() - t1 < 100, 'the second charge does not wait on the table');
        const lines = log.entries().filter((line) => line.operation === 'budget');
        assert.equal(lines.length, 1);
        assert.equal(lines[0]?.timed_out, true);
      } finally {
        client.destroy();
        await hung.close();
      }
    });
  });

  it('counts a throttled table as failing: bypassed after the first throttled call', async () => {
    const throttled = await startFaultProxy(table.endpoint, {
      kind: 'throttle',
      errorType: 'ProvisionedThroughputExceededException',
    });
    const client = dynamoDbClient(throttled.endpoint);
    try {
      const providerEntry = entry();
      const log = new RecordingLog();
      const service = await start(log, providerEntry, { ...table, client });
      assert.equal((await service.vend(providerEntry.id, { scope: 'a' })).status, 200);
      const calls = throttled.throttled();
      const t0 = Date.now();
      assert.equal((await service.vend(providerEntry.id, { scope: 'b' })).status, 200);
      assert.ok(Date.now() - t0 < 500);
      assert.equal(throttled.throttled(), calls, 'not asked again within the window');
      const lines = log.entries().filter((line) => line.event === 'cache_table_error');
      assert.equal(lines.length, 1);
      assert.equal(lines[0]?.throttled, true);
    } finally {
      client.destroy();
      await throttled.close();
    }
  });
});
