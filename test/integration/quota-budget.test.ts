import assert from 'node:assert/strict';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { type InstanceGroup, startInstances } from '../support/instances';
import { RecordingLog } from '../support/recording-log';
import { BILLING, ORDERS, ORDERS_ROLE, type TestService } from '../support/test-service';

const DAY_MS = 86_400_000;
const BILLING_ROLE = 'arn:aws:iam::111122223333:role/billing-service';
/** Just under the provider's 3600 s tokens: a cached token a second old no longer meets it. */
const FORCING = { min_ttl: 3599 };

/**
 * A provider with a `tokenQuota` cannot be driven through the service: its budget follows from the quota,
 * per caller and per provider, counted in the shared table across instances (issue 29, item 2).
 */
describe('Budgets of a provider with a token quota', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let group: InstanceGroup;
  let instances: readonly TestService[];
  // A fake clock, in the middle of a UTC day: each vend moves it on, so min_ttl forces a new token.
  let now = Math.floor(Date.now() / DAY_MS) * DAY_MS + DAY_MS / 2;

  beforeAll(async () => {
    [provider, table] = await Promise.all([
      startFakeProvider((_request, index) => grant(`quota-${index}`)),
      createTestTable(),
    ]);
    const entry = (id: string, tokens: number, callers: string[]) => ({
      id,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/quota',
      callers,
      tokenQuota: { tokens, periodDays: 30 },
    });
    group = await startInstances(2, () => ({
      providers: [
        // Issue 29's reproduction: 60 tokens a month, one caller asking min_ttl just under the lifetime.
        entry('monthly-60', 60, [ORDERS_ROLE]),
        // 310 a month: 10 a UTC day (any 30 days touch at most 31), 5 for each of its two callers.
        entry('shared-310', 310, [ORDERS_ROLE, BILLING_ROLE]),
        // A "*" provider's callers are not known: each may take a quarter of the day.
        entry('anyone-310', 310, ['*']),
      ],
      secrets: { 'tvm/quota': { client_id: 'quota', client_secret: 'quota-secret' } },
      table,
      log: new RecordingLog(),
      now: () => now,
    }));
    instances = group.instances;
  });

  afterAll(async () => {
    await group.close();
    await Promise.all([provider.close(), table.dispose()]);
  });

  const at = (index: number) => instances[index % instances.length] as TestService;

  /** `count` vends a second apart (alternating instances), each needing a new token: their statuses. */
  async function forcedVends(providerId: string, count: number, caller = ORDERS): Promise<number[]> {
    const statuses: number[] = [];
    for (let index = 0; index < count; index++) {
      now += 2000;
      const response = await at(index).vend(providerId, FORCING, caller);
      statuses.push(response.status);
      if (response.status === 429) {
        assert.equal(response.json.error, 'throttled');
        const retryAfter = Number(response.headers.get('retry-after'));
        // The day's budget is spent: come back when the UTC day turns.
        assert.equal(retryAfter, Math.ceil((Math.ceil(now / DAY_MS) * DAY_MS - now) / 1000));
      }
    }
    return statuses;
  }

  it('gives one caller forcing a new token on every vend its share of the day, then 429 until the day turns', async () => {
    const before = provider.requests.length;
    const statuses = await forcedVends('monthly-60', 30);
    // 60 a month is floor(60 / 31) = 1 a UTC day, all of it this caller's (the only one).
    assert.deepEqual(statuses, [200, ...Array(29).fill(429)]);
    assert.equal(provider.requests.length - before, 1);
  });

  it('keeps each named caller to its share, and all of them together to the day', async () => {
    const before = provider.requests.length;
    assert.deepEqual(await forcedVends('shared-310', 8, ORDERS), [200, 200, 200, 200, 200, 429, 429, 429]);
    assert.deepEqual(await forcedVends('shared-310', 8, BILLING), [200, 200, 200, 200, 200, 429, 429, 429]);
    assert.equal(provider.requests.length - before, 10);
  });

  it('gives a caller of a "*" provider a quarter of the day', async () => {
    const statuses = await forcedVends('anyone-310', 5);
    assert.deepEqual(statuses, [200, 200, 429, 429, 429]);
  });

  it('starts again on the next UTC day', async () => {
    now = Math.ceil(now / DAY_MS) * DAY_MS + 1000;
    const before = provider.requests.length;
    assert.deepEqual(await forcedVends('monthly-60', 3), [200, 429, 429]);
    assert.equal(provider.requests.length - before, 1);
  });
});
