import assert from 'node:assert/strict';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { tokenFingerprint as fingerprintOf } from '../../packages/client/src/wire-contract';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { type InstanceGroup, startInstances } from '../support/instances';
import { RecordingLog } from '../support/recording-log';
import { BILLING, ORDERS, ORDERS_ROLE, type TestService } from '../support/test-service';

const SCOPES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

/**
 * Upstream budgets, counted in the shared table across instances: a caller that varies its selectors, or
 * evicts and vends in a loop, meets its own budget; another caller's vends go on until the provider's.
 */
describe('Upstream budgets', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let group: InstanceGroup;
  let instances: readonly TestService[];
  // Pinned inside one minute: the budget's window cannot turn over mid-test.
  const pinned = Math.floor(Date.now() / 60_000) * 60_000 + 1000;

  beforeAll(async () => {
    [provider, table] = await Promise.all([
      startFakeProvider((_request, index) => grant(`budgeted-${index}`)),
      createTestTable(),
    ]);
    const entry = (id: string, upstreamBudget: Record<string, number>) => ({
      id,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/budget',
      allowedScopes: SCOPES,
      defaultScopes: ['a'],
      callers: [ORDERS_ROLE, 'arn:aws:iam::111122223333:role/billing-service'],
      upstreamBudget,
    });
    group = await startInstances(2, () => ({
      providers: [
        entry('metered', { perCallerPerMinute: 5, perMinute: 8 }),
        entry('looped', { perCallerPerMinute: 3 }),
        entry('shared', { perCallerPerMinute: 2 }),
        entry('evicting', { perCallerPerMinute: 30, evictionsPerCallerPerMinute: 2 }),
      ],
      secrets: { 'tvm/budget': { client_id: 'budget', client_secret: 'budget-secret' } },
      table,
      log: new RecordingLog(),
      now: () => pinned,
    }));
    instances = group.instances;
  });

  afterAll(async () => {
    await group.close();
    await Promise.all([provider.close(), table.dispose()]);
  });

  const at = (index: number) => instances[index % instances.length] as TestService;

  it("stops a caller varying its scopes at its budget, across instances, and leaves another caller's vends alone", async () => {
    const before = provider.requests.length;
    const orders = [];
    for (let index = 0; index < 8; index++) {
      orders.push(await at(index).vend('metered', { scope: ['a', SCOPES[index] as string] }, ORDERS));
    }
    assert.deepEqual(
      orders.map((response) => response.status),
      [200, 200, 200, 200, 200, 429, 429, 429],
    );
    const refused = orders[5];
    assert.equal(refused?.json.error, 'throttled');
    assert.ok(Number(refused?.headers.get('retry-after')) >= 1);
    assert.equal(provider.requests.length - before, 5);

    // Another caller is untouched by the first one's budget, until the provider's own (8 a minute).
    const billing = [];
    for (const scope of ['b c', 'b d', 'b e', 'b f'])
      billing.push(await at(1).vend('metered', { scope }, BILLING));
    assert.deepEqual(
      billing.map((response) => response.status),
      [200, 200, 200, 429],
    );
    assert.match(String(billing[3]?.json.message), /Provider "metered" has been asked for 8 tokens/);
    assert.equal(provider.requests.length - before, 8);
    // Cached tokens are still served: the budget counts requests to the provider, not vends.
    assert.equal((await at(0).vend('metered', { scope: 'a b' }, ORDERS)).status, 200);
  });

  it('stops a caller that evicts and vends in a loop, at the evict', async () => {
    const before = provider.requests.length;
    const evictions: number[] = [];
    const vends: number[] = [];
    let token: string | undefined;
    for (let round = 0; round < 6; round++) {
      if (token) {
        const evicted = await at(round).evict('looped', { token_fingerprint: fingerprintOf(token) }, ORDERS);
        evictions.push(evicted.status);
        if (evicted.status === 429) assert.ok(Number(evicted.headers.get('retry-after')) >= 1);
      }
      const vend = await at(round).vend('looped', undefined, ORDERS);
      vends.push(vend.status);
      token = String(vend.json.access_token);
    }
    // The first vend and two evictions spend the caller's 3; the third evict is refused and the token stays.
    assert.deepEqual(evictions, [204, 204, 429, 429, 429]);
    assert.deepEqual(vends, [200, 200, 200, 200, 200, 200]);
    assert.equal(provider.requests.length - before, 3);
    assert.equal((await at(0).vend('looped', { scope: 'h' }, BILLING)).status, 200);
  });

  it('charges the renewal after an eviction to the caller that evicted, not to the one that vends next', async () => {
    const before = provider.requests.length;
    let token = String((await at(0).vend('shared', undefined, ORDERS)).json.access_token);
    const evictions: number[] = [];
    const vends: number[] = [];
    // BILLING never vends; it evicts the token ORDERS uses, as often as it is let.
    for (let round = 0; round < 4; round++) {
      evictions.push(
        (await at(round).evict('shared', { token_fingerprint: fingerprintOf(token) }, BILLING)).status,
      );
      const vend = await at(round + 1).vend('shared', undefined, ORDERS);
      vends.push(vend.status);
      token = String(vend.json.access_token);
    }
    assert.deepEqual(evictions, [204, 204, 429, 429], "BILLING's own budget of 2 paid for two renewals");
    assert.deepEqual(vends, [200, 200, 200, 200], 'ORDERS, with a budget of 2, was never throttled');
    assert.equal(provider.requests.length - before, 3);
  });

  it('bounds evictions per caller per minute, apart from the upstream budget', async () => {
    let token = String((await at(0).vend('evicting', undefined, ORDERS)).json.access_token);
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      const evicted = await at(round).evict('evicting', { token_fingerprint: fingerprintOf(token) }, ORDERS);
      statuses.push(evicted.status);
      if (evicted.status === 429) {
        assert.equal(evicted.json.error, 'throttled');
        assert.match(String(evicted.json.message), /evicted 2 tokens/);
      }
      token = String((await at(round).vend('evicting', undefined, ORDERS)).json.access_token);
    }
    assert.deepEqual(statuses, [204, 204, 429]);
  });
});
