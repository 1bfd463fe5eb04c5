import assert from 'node:assert/strict';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterFailedAttempt, FAILURE_THRESHOLD, MAX_RETRY_AFTER_MS } from '../../lambda/backoff-policy';
import { cacheKey } from '../../lambda/cache/cache-key';
import { DependencyBypass } from '../../lambda/cache/dependency-bypass';
import { DynamoDbProviderRecords } from '../../lambda/cache/dynamodb-provider-records';
import type { TableRegions } from '../../lambda/contracts/region-owned-items';
import type { ClientCredentials, CredentialSource } from '../../lambda/credentials/client-credentials';
import { ProviderBackingOff, ProviderBackoff } from '../../lambda/lease/provider-backoff';
import { freePort } from '../../local/dynamodb-local';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import {
  createTestTable,
  dynamoDbClient,
  type TestTable,
  type WatchedTable,
  watchLeaseRefusals,
} from '../support/dynamodb';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const SECRET = 'lease-faults-client-secret';
const CLIENT: ClientCredentials = { clientId: 'lease-faults-client', clientSecret: SECRET };

/**
 * A credential source whose first read answers (the cache key needs the client id) and whose later reads
 * hang until `release`: the lease holder's work never completes, as in a container killed mid-fetch
 * (SIGKILL, a Lambda timeout, an out-of-memory kill). `entered` resolves once the holder is stuck.
 */
function dyingCredentials(): { source: CredentialSource; entered: Promise<void>; release(): void } {
  let reads = 0;
  let entered: () => void = () => undefined;
  let release: (error: Error) => void = () => undefined;
  const enteredPromise = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const stuck = new Promise<never>((_resolve, reject) => {
    release = reject;
  });
  stuck.catch(() => undefined);
  return {
    source: {
      get: async () => {
        reads += 1;
        if (reads === 1) return CLIENT;
        entered();
        return stuck;
      },
      clientId: async () => CLIENT.clientId,
      invalidate: () => undefined,
    },
    entered: enteredPromise,
    release: () => release(new Error('the killed container is gone')),
  };
}

/**
 * Lease and backoff faults across instances on one DynamoDB Local table (issue 28, items 1–3): a lease
 * holder that dies, a provider's Retry-After, and a provider failing for several keys at once.
 */
describe('Lease and backoff faults across instances', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let watched: WatchedTable;
  const log = new RecordingLog();
  const instances: TestService[] = [];
  const issued: string[] = [];
  let providerSeq = 0;
  /** Every instance's clock: the test moves it on to make a lease run out, never waits for it to. */
  let offsetMs = 0;
  const now = () => Date.now() + offsetMs;

  /** A provider entry of its own for each test, so no test sees another's tokens or backoff. */
  function entry(overrides: Record<string, unknown> = {}) {
    providerSeq += 1;
    return {
      id: `lease-faults-${providerSeq}`,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/lease-faults',
      callers: [ORDERS_ROLE],
      allowedScopes: ['s1', 's2', 's3', 's4'],
      defaultScopes: ['s1'],
      ...overrides,
    };
  }

  async function start(
    providerEntry: Record<string, unknown>,
    options: { credentials?: CredentialSource; through?: TestTable } = {},
  ): Promise<TestService> {
    const instance = await startTestService({
      providers: [providerEntry],
      ...(options.credentials
        ? { credentials: options.credentials }
        : { secrets: { 'tvm/lease-faults': { client_id: CLIENT.clientId, client_secret: SECRET } } }),
      table: options.through ?? table,
      log,
      now,
    });
    instances.push(instance);
    return instance;
  }

  const keyOf = (providerId: string, scopes: string[] = ['s1']) =>
    cacheKey({ providerId, tokenEndpoint: provider.tokenEndpoint, clientId: CLIENT.clientId, scopes });

  beforeAll(async () => {
    [provider, table] = await Promise.all([startFakeProvider(), createTestTable()]);
    watched = watchLeaseRefusals(table);
  });

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.close()));
    await watched.table.dispose();
    await Promise.all([provider.close(), table.dispose()]);
  });

  describe('a lease holder that dies', () => {
    for (const others of [2, 3]) {
      it(`serves all 20 callers waiting on ${others} other instances once the dead lease lapses: one takeover, one upstream request`, async () => {
        provider.setBehaviour((_request, index) => grant(`taken-over-${index}`));
        // The provider's defaults (5 s × 3 attempts + 2 s) make the lease as long as a caller's wait budget.
        const providerEntry = entry();
        const dying = dyingCredentials();
        const holder = await start(providerEntry, { credentials: dying.source });
        const waiting = await Promise.all(
          Array.from({ length: others }, () => start(providerEntry, { through: watched.table })),
        );
        const before = provider.requests.length;
        const held = holder.vend(providerEntry.id);
        try {
          await dying.entered;
          // Every other instance has read the holder's live lease before the clock moves on.
          const allWaiting = watched.refused(watched.refusals() + others);
          const responses = Array.from({ length: 20 }, (_, index) => {
            const instance = waiting[index % others];
            assert.ok(instance);
            return instance.vend(providerEntry.id);
          });
          await allWaiting;
          const { Item } = await table.client.send(
            new GetItemCommand({
              TableName: table.tableName,
              Key: { pk: { S: keyOf(providerEntry.id) } },
              ConsistentRead: true,
            }),
          );
          const leaseUntil = Number(Item?.leaseUntil?.N);
          assert.ok(leaseUntil > now(), 'the dead holder still holds the lease');
          // The dead holder's lease runs out, and so does every waiter's own budget (the same length).
          offsetMs += leaseUntil - now() + 13_000;
          const answers = await Promise.all(responses);
          for (const answer of answers) assert.equal(answer.status, 200, answer.text);
          const tokens = new Set(answers.map((answer) => String(answer.json.access_token)));
          assert.equal(tokens.size, 1, 'every waiter got the taker’s token');
          assert.equal(provider.requests.length - before, 1, 'exactly one takeover asked the provider');
          issued.push(...tokens);
        } finally {
          dying.release();
          // The killed container's work ends (here, at last) with nothing written: the lease is no longer its own.
          await held;
        }
      });
    }
  });

  describe("a provider's Retry-After", () => {
    it('is honoured by every instance: nobody asks before it, callers get a prompt 503 with the time left', async () => {
      provider.setBehaviour(() => ({
        status: 429,
        headers: { 'retry-after': '30' },
        body: { error: 'slow_down' },
      }));
      const providerEntry = entry();
      const [first, second] = [await start(providerEntry), await start(providerEntry)];
      assert.ok(first && second);
      const before = provider.requests.length;
      const answers = [];
      // Six callers on two instances and three scopes, one after another, as the issue measured them.
      for (const [index, scope] of ['s1', 's2', 's1', 's3', 's2', 's1'].entries()) {
        const instance = index % 2 === 0 ? first : second;
        answers.push(await instance.vend(providerEntry.id, { scope }));
        offsetMs += 1000;
      }
      assert.equal(provider.requests.length - before, 1, 'the provider was asked once in its 30 s');
      for (const [index, answer] of answers.entries()) {
        assert.equal(answer.status, 503, answer.text);
        assert.equal(answer.json.error, 'upstream_unavailable');
        const retryAfter = Number(answer.headers.get('retry-after'));
        // The time left of the provider's 30 s: one second less for each caller after the first.
        assert.ok(retryAfter <= 30 - index && retryAfter >= 29 - index, `caller ${index + 1}: ${retryAfter}`);
      }
      // Once its Retry-After has passed, the first vend asks again, and recovery is seen at once.
      provider.setBehaviour((_request, index) => grant(`after-retry-after-${index}`));
      offsetMs += 25_000;
      const recovered = await second.vend(providerEntry.id, { scope: 's2' });
      assert.equal(recovered.status, 200, recovered.text);
      assert.equal(provider.requests.length - before, 2);
      issued.push(String(recovered.json.access_token));
    });

    it('is honoured up to its documented maximum of 300 s, and no further', async () => {
      provider.setBehaviour(() => ({
        status: 503,
        headers: { 'retry-after': '86400' },
        body: { error: 'temporarily_unavailable' },
      }));
      const providerEntry = entry();
      const instance = await start(providerEntry);
      const before = provider.requests.length;
      const told = await instance.vend(providerEntry.id, { scope: 's1' });
      assert.equal(told.status, 503, told.text);
      assert.equal(told.headers.get('retry-after'), String(MAX_RETRY_AFTER_MS / 1000));
      offsetMs += MAX_RETRY_AFTER_MS - 1000;
      const still = await instance.vend(providerEntry.id, { scope: 's2' });
      assert.equal(still.status, 503, still.text);
      assert.equal(provider.requests.length - before, 1, 'nobody asked within the 300 s');
      provider.setBehaviour((_request, index) => grant(`after-the-cap-${index}`));
      offsetMs += 1000;
      const asked = await instance.vend(providerEntry.id, { scope: 's2' });
      assert.equal(asked.status, 200, asked.text);
      assert.equal(provider.requests.length - before, 2);
      issued.push(String(asked.json.access_token));
    });

    it('gives the callers waiting on the holder in another instance a prompt 503, not a 504', async () => {
      const providerEntry = entry();
      const holder = await start(providerEntry);
      const other = await start(providerEntry, { through: watched.table });
      const otherWaiting = watched.refused(watched.refusals() + 1);
      provider.setBehaviour(async () => {
        await otherWaiting;
        return { status: 429, headers: { 'retry-after': '7' }, body: { error: 'slow_down' } };
      });
      const before = provider.requests.length;
      const held = holder.vend(providerEntry.id);
      // The other instance's callers arrive once the holder has asked: they wait on its lease.
      while (provider.requests.length === before) await new Promise((resolve) => setImmediate(resolve));
      const waiters = Array.from({ length: 5 }, () => other.vend(providerEntry.id));
      const answers = [await held, ...(await Promise.all(waiters))];
      assert.equal(provider.requests.length - before, 1, 'asked once, not again within its 7 s');
      for (const answer of answers) {
        assert.equal(answer.status, 503, answer.text);
        assert.equal(answer.json.error, 'upstream_unavailable');
        const retryAfter = Number(answer.headers.get('retry-after'));
        assert.ok(retryAfter >= 6 && retryAfter <= 7, `Retry-After ${retryAfter}`);
      }
    });
  });

  describe('a provider failing for several keys', () => {
    it('backs off per provider: one probe per step whatever the number of keys, and recovery seen by the first probe', async () => {
      provider.setBehaviour(() => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
      const providerEntry = entry({ timeoutMs: 500 });
      const [first, second] = [await start(providerEntry), await start(providerEntry)];
      assert.ok(first && second);
      const scopes = ['s1', 's2', 's3', 's4'];
      const before = provider.requests.length;
      const down = [];
      for (const [index, scope] of scopes.entries()) {
        down.push(await (index % 2 === 0 ? first : second).vend(providerEntry.id, { scope }));
      }
      // One grant's three attempts put the provider in backoff; the other keys do not ask it at all.
      assert.equal(provider.requests.length - before, 3);
      for (const answer of down) {
        assert.equal(answer.status, 503, answer.text);
        assert.equal(answer.json.error, 'upstream_unavailable');
      }
      for (const answer of down.slice(1)) assert.ok(Number(answer.headers.get('retry-after')) >= 1);

      // Each backoff step ends with one probe, however many keys ask at once on both instances.
      for (const step of [1, 2]) {
        offsetMs += 31_000;
        const probed = provider.requests.length;
        const wave = await Promise.all(
          scopes.flatMap((scope) =>
            [first, second].map((instance) => instance.vend(providerEntry.id, { scope })),
          ),
        );
        assert.equal(provider.requests.length - probed, 1, `step ${step}: one probe`);
        for (const answer of wave) assert.equal(answer.status, 503, answer.text);
      }

      // The provider is back: the first probe sees it, and every key is served right after.
      provider.setBehaviour((_request, index) => grant(`recovered-${index}`));
      offsetMs += 31_000;
      const probe = await first.vend(providerEntry.id, { scope: 's1' });
      assert.equal(probe.status, 200, probe.text);
      const rest = await Promise.all(
        scopes.slice(1).map((scope) => second.vend(providerEntry.id, { scope })),
      );
      for (const answer of rest) assert.equal(answer.status, 200, answer.text);
      issued.push(...[probe, ...rest].map((answer) => String(answer.json.access_token)));
    });
  });

  describe('Class: DynamoDbProviderRecords', () => {
    const records = (regions?: TableRegions) =>
      new DynamoDbProviderRecords({
        client: table.client,
        tableName: table.tableName,
        ...(regions ? { regions } : {}),
      });
    const itemOf = async (partitionKey: string) =>
      (
        await table.client.send(
          new GetItemCommand({
            TableName: table.tableName,
            Key: { pk: { S: partitionKey } },
            ConsistentRead: true,
          }),
        )
      ).Item;

    it('counts failed attempts of many writers at once, none lost, on one item per provider', async () => {
      const subject = records();
      const counted = await Promise.all(
        Array.from({ length: 3 }, () =>
          subject.update('counted', (current) =>
            afterFailedAttempt(current, { error: 'upstream_unavailable' }, Date.now()),
          ),
        ),
      );
      assert.ok(counted.every((record) => record !== undefined));
      assert.equal((await subject.read('counted'))?.failures, 3);
      assert.ok(((await subject.read('counted'))?.retryAtMs ?? 0) > Date.now(), 'the third starts a step');
      assert.equal(await subject.update('counted', () => 'clear'), undefined);
      assert.deepEqual(await subject.read('counted'), { failures: 0, retryAtMs: 0 });
    });

    it("with several regions keeps the record on the own region's item only", async () => {
      await records({ own: 'eu-north-1', peers: ['eu-west-1'] }).update('regional', () => ({
        failures: 1,
        retryAtMs: Date.now() + 5000,
        lastError: 'upstream_timeout',
      }));
      assert.ok(await itemOf('eu-north-1#backoff#regional'));
      assert.equal(await itemOf('eu-west-1#backoff#regional'), undefined);
      assert.equal(await itemOf('backoff#regional'), undefined);
    });

    it("keeps the record in this container's memory while the table fails, and says so", async () => {
      const client = dynamoDbClient(`http://127.0.0.1:${await freePort()}`);
      const bypassLog = new RecordingLog();
      const backoff = new ProviderBackoff({
        records: new DynamoDbProviderRecords({ client, tableName: table.tableName }),
        bypass: new DependencyBypass({ log: bypassLog }),
      });
      try {
        for (let attempt = 0; attempt < FAILURE_THRESHOLD; attempt++)
          await backoff.failed('unreachable', 'upstream_unavailable');
        await assert.rejects(backoff.admit('unreachable', 5000), ProviderBackingOff);
        assert.ok(
          bypassLog
            .entries()
            .some((line) => line.event === 'cache_table_error' && line.operation === 'backoff'),
        );
      } finally {
        client.destroy();
      }
    });

    it('reads a record nobody of this service wrote as absent, and writes over it', async () => {
      await table.client.send(
        new PutItemCommand({
          TableName: table.tableName,
          Item: { pk: { S: 'backoff#planted' }, retryAt: { S: 'soon' }, rev: { N: '7' } },
        }),
      );
      const subject = records();
      assert.equal(await subject.read('planted'), undefined);
      const written = await subject.update('planted', (current) =>
        afterFailedAttempt(current, { error: 'upstream_unavailable', retryAfterMs: 2000 }, Date.now()),
      );
      assert.equal(written?.failures, 1);
      assert.equal((await subject.read('planted'))?.failures, 1);
    });
  });

  it('logs no client secret or token', () => {
    assertNothingSensitive(log.lines, [SECRET, ...new Set(issued)]);
  });
});
