import assert from 'node:assert/strict';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { cacheKey } from '../../lambda/cache/cache-key';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import {
  createTestTable,
  seedToken,
  type TestTable,
  type WatchedTable,
  watchLeaseRefusals,
} from '../support/dynamodb';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const SECRET = 'shared-cache-client-secret';

/**
 * Several service instances (as Lambda containers: each its own memory) sharing one DynamoDB Local table:
 * one upstream request per key at any concurrency, recovery from a dead lease holder, refresh ahead, serving
 * while valid, and backing off a failing provider.
 */
describe('Shared cache across instances', () => {
  let provider: FakeProvider;
  let table: TestTable;
  /** The same table, counting refused leases: bursts hold the provider's answer until all are waiting. */
  let watched: WatchedTable;
  const log = new RecordingLog();
  const instances: TestService[] = [];
  const issued: string[] = [];
  let providerSeq = 0;

  /** A provider entry of its own for each test, so no test sees another's tokens or backoff. */
  function entry(overrides: Record<string, unknown> = {}) {
    providerSeq += 1;
    return {
      id: `shared-${providerSeq}`,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/shared',
      callers: [ORDERS_ROLE],
      refreshMarginSeconds: 60,
      timeoutMs: 2000,
      ...overrides,
    };
  }

  async function startInstances(
    count: number,
    providerEntry: Record<string, unknown>,
    now?: () => number,
    through: TestTable = table,
    onRequest?: () => void,
  ): Promise<TestService[]> {
    const started = await Promise.all(
      Array.from({ length: count }, () =>
        startTestService({
          providers: [providerEntry],
          secrets: { 'tvm/shared': { client_id: 'shared-client', client_secret: SECRET } },
          table: through,
          log,
          ...(now ? { now } : {}),
          ...(onRequest ? { onRequest } : {}),
        }),
      ),
    );
    instances.push(...started);
    return started;
  }

  /** `count` vends at once, spread round-robin over the instances. */
  const burst = (group: readonly TestService[], providerId: string, count: number) =>
    Promise.all(
      Array.from({ length: count }, (_, index) => {
        const instance = group[index % group.length];
        assert.ok(instance);
        return instance.vend(providerId);
      }),
    );

  const keyOf = (providerId: string) =>
    cacheKey({ providerId, tokenEndpoint: provider.tokenEndpoint, clientId: 'shared-client', scopes: [] });

  beforeAll(async () => {
    [provider, table] = await Promise.all([startFakeProvider(), createTestTable()]);
    watched = watchLeaseRefusals(table);
  });

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.close()));
    await watched.table.dispose();
    await Promise.all([provider.close(), table.dispose()]);
  });

  it('makes exactly one upstream request for 200 concurrent vends over 4 instances', async () => {
    const providerEntry = entry();
    const group = await startInstances(4, providerEntry, undefined, watched.table);
    // The holder answers only once the three other instances have been refused the lease.
    const allWaiting = watched.refused(watched.refusals() + group.length - 1);
    provider.setBehaviour(async (_request, index) => {
      await allWaiting;
      return grant(`burst-token-${index}`);
    });
    const before = provider.requests.length;
    const responses = await burst(group, providerEntry.id, 200);
    assert.ok(responses.every((response) => response.status === 200));
    const tokens = new Set(responses.map((response) => response.json.access_token));
    assert.equal(tokens.size, 1);
    assert.equal(provider.requests.length - before, 1);
    issued.push(...(tokens as Set<string>));
  });

  it("shares a lease holder's failure with the callers waiting on it: one upstream request, one answer", async () => {
    const providerEntry = entry();
    let received = 0;
    let allReceived: () => void = () => undefined;
    const thirtyReceived = new Promise<void>((resolve) => {
      allReceived = resolve;
    });
    const group = await startInstances(3, providerEntry, undefined, watched.table, () => {
      received += 1;
      if (received === 30) allReceived();
    });
    // The holder fails only once all 30 calls are in and every other instance is waiting on its lease.
    const allWaiting = watched.refused(watched.refusals() + group.length - 1);
    provider.setBehaviour(async () => {
      await Promise.all([allWaiting, thirtyReceived]);
      return { status: 401, body: { error: 'invalid_client' } };
    });
    const before = provider.requests.length;
    const responses = await burst(group, providerEntry.id, 30);
    assert.equal(provider.requests.length - before, 1);
    for (const response of responses) {
      assert.equal(response.status, 502);
      assert.equal(response.json.error, 'upstream_rejected');
    }
  });

  it('recovers when a lease holder died mid-fetch: the lease runs out and another instance fetches', async () => {
    provider.setBehaviour((_request, index) => grant(`after-dead-holder-${index}`));
    const providerEntry = entry();
    const nowMs = Date.now();
    await table.client.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: {
          pk: { S: keyOf(providerEntry.id) },
          owner: { S: 'a-container-that-crashed' },
          leaseUntil: { N: String(nowMs + 1500) },
          retryAt: { N: '0' },
          expiresAt: { N: String(Math.floor(nowMs / 1000) + 3600) },
        },
      }),
    );
    const [instance] = await startInstances(1, providerEntry);
    const before = provider.requests.length;
    const response = await instance?.vend(providerEntry.id);
    assert.equal(response?.status, 200, response?.text);
    assert.match(String(response?.json.access_token), /^after-dead-holder-/);
    assert.equal(provider.requests.length - before, 1);
    issued.push(String(response?.json.access_token));
  });

  for (const [margin, least, most] of [
    [60, 4, 7],
    [900, 7, 13],
  ] as const) {
    it(`refreshes a hot 300-second token ahead of expiry with a ${margin}-second margin: no caller meets a miss`, async () => {
      let clock = Date.now();
      const now = () => clock;
      provider.setBehaviour((_request, index) =>
        grant(`short-lived-${index}`, { expires_in: 300, token_type: 'bearer' }),
      );
      const providerEntry = entry({ refreshMarginSeconds: margin });
      const group = await startInstances(3, providerEntry, now);
      const before = provider.requests.length;
      const first = await group[0]?.vend(providerEntry.id);
      assert.equal(first?.status, 200);

      for (let second = 5; second <= 900; second += 5) {
        clock += 5000;
        const round = await Promise.all(group.map((instance) => instance.vend(providerEntry.id)));
        for (const response of round) {
          assert.equal(response.status, 200);
          // Never a token inside the margin (for 900 s, capped at half the 300-second lifetime).
          const effectiveMargin = Math.min(margin, 150);
          assert.ok(
            Number(response.json.expires_in) > effectiveMargin,
            `expires_in ${response.json.expires_in} at +${second}s`,
          );
          issued.push(String(response.json.access_token));
        }
      }
      const outcomes = log
        .entries()
        .filter((line) => line.provider === providerEntry.id && line.message === 'request')
        .slice(1)
        .map((line) => String(line.cache));
      assert.equal(outcomes.length, 540);
      assert.ok(
        !outcomes.includes('miss'),
        'after the first vend, every caller was served from a cache or refreshed ahead',
      );
      const upstream = provider.requests.length - before;
      assert.equal(upstream, outcomes.filter((outcome) => outcome === 'refresh').length + 1);
      // Renewed once per lifetime-minus-refresh-point, never on every call (540 calls).
      assert.ok(upstream >= least && upstream <= most, `${upstream} upstream requests`);
    });
  }

  it('lets one caller renew ahead of expiry while concurrent callers in the same instance are served at once', async () => {
    let clock = Date.now();
    let joinersServed: () => void = () => undefined;
    const nineServed = new Promise<void>((resolve) => {
      joinersServed = resolve;
    });
    // The renewal answers only after the nine other callers were served: they must not wait for it.
    let renewing = false;
    provider.setBehaviour(async (_request, index) => {
      if (renewing) await nineServed;
      return grant(`renewed-${index}`, { expires_in: 300 });
    });
    const providerEntry = entry();
    const [instance] = await startInstances(1, providerEntry, () => clock);
    assert.ok(instance);
    const first = await instance.vend(providerEntry.id);
    assert.equal(first.status, 200);
    renewing = true;
    clock += 220_000; // 80 s left of 300: past every refresh point (90–120 s left), outside the 60 s margin
    const before = provider.requests.length;
    let served = 0;
    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        instance.vend(providerEntry.id).then((response) => {
          served += 1;
          if (served === 9) joinersServed();
          return response;
        }),
      ),
    );
    assert.equal(provider.requests.length - before, 1);
    const tokens = responses.map((response) => String(response.json.access_token));
    issued.push(...tokens);
    const renewed = tokens.filter((token) => token !== first.json.access_token);
    assert.equal(renewed.length, 1, 'exactly one caller waited for the renewal');
    const outcomes = log
      .entries()
      .filter((line) => line.provider === providerEntry.id && line.message === 'request')
      .slice(-10)
      .map((line) => line.cache);
    assert.equal(outcomes.filter((outcome) => outcome === 'refresh').length, 1);
    assert.equal(outcomes.filter((outcome) => outcome === 'memory' || outcome === 'table').length, 9);
  });

  it('serves a cached token while the provider is down, and says so in the log', async () => {
    const providerEntry = entry({ maxAttempts: 2 });
    await seedToken(table, keyOf(providerEntry.id), 'still-valid-token', {
      ageSeconds: 230,
      leftSeconds: 70,
    });
    provider.setBehaviour(() => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
    const [instance] = await startInstances(1, providerEntry);
    const before = provider.requests.length;
    const response = await instance?.vend(providerEntry.id);
    assert.equal(response?.status, 200, response?.text);
    assert.equal(response?.json.access_token, 'still-valid-token');
    assert.ok(provider.requests.length > before, 'the renewal was attempted');
    const line = log
      .entries()
      .find((entry) => entry.event === 'served_while_valid' && entry.provider === providerEntry.id);
    assert.equal(line?.upstream_failure, 'upstream_unavailable');

    // Inside the margin, a caller who asks for less than the margin is still served; the default is not.
    await seedToken(table, keyOf(providerEntry.id), 'thirty-seconds-left', {
      ageSeconds: 270,
      leftSeconds: 30,
    });
    const [fresh] = await startInstances(1, providerEntry);
    assert.equal(
      (await fresh?.vend(providerEntry.id, { min_ttl: 10 }))?.json.access_token,
      'thirty-seconds-left',
    );
    const refused = await fresh?.vend(providerEntry.id);
    assert.equal(refused?.status, 503);
    assert.equal(refused?.json.error, 'upstream_unavailable');
  });

  it('backs off a provider that keeps failing, across instances, and tells callers when to come back', async () => {
    provider.setBehaviour(() => ({ status: 500, body: { error: 'server_error' } }));
    const providerEntry = entry({ maxAttempts: 1 });
    const [first, second] = await startInstances(2, providerEntry);
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = provider.requests.length;
      const response = await first?.vend(providerEntry.id);
      assert.equal(response?.status, 503);
      assert.equal(provider.requests.length - before, 1, `failure ${attempt + 1} asked the provider`);
    }
    const before = provider.requests.length;
    for (const instance of [first, second]) {
      const response = await instance?.vend(providerEntry.id);
      assert.equal(response?.status, 503);
      assert.equal(response?.json.error, 'upstream_unavailable');
      assert.match(String(response?.json.message), /failed repeatedly/);
      assert.ok(Number(response?.headers.get('retry-after')) >= 1);
    }
    assert.equal(provider.requests.length, before, 'nobody asked the provider during the backoff');
  });

  it('logs no client secret or token', () => {
    assertNothingSensitive(log.lines, [SECRET, ...new Set(issued)]);
  });
});
