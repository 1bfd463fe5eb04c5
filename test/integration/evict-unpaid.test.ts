import assert from 'node:assert/strict';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { tokenFingerprint } from '../../packages/client/src/wire-contract';
import { createTestTable, type GatedTable, gatedTable, type TestTable } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';
import { BILLING, ORDERS, ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const DAY_MS = 86_400_000;
const BILLING_ROLE = 'arn:aws:iam::111122223333:role/billing-service';
/** Just under the provider's 3600 s tokens: a cached token a second old no longer meets it. */
const FORCING = { min_ttl: 3599 };

/** The providers, as every container of the test has them. */
const PROVIDERS = (tokenEndpoint: string) => [
  {
    id: 'shared-310',
    tokenEndpoint: tokenEndpoint,
    clientAuth: 'client_secret_post',
    secretId: 'tvm/quota',
    // 310 a month: 10 a UTC day, 5 for each of its two callers.
    callers: [ORDERS_ROLE, BILLING_ROLE],
    tokenQuota: { tokens: 310, periodDays: 30 },
  },
  {
    id: 'evict-once',
    tokenEndpoint: tokenEndpoint,
    clientAuth: 'client_secret_post',
    secretId: 'tvm/quota',
    callers: [ORDERS_ROLE, BILLING_ROLE],
    upstreamBudget: { evictionsPerCallerPerMinute: 1 },
  },
  {
    id: 'warm-up',
    tokenEndpoint: tokenEndpoint,
    clientAuth: 'client_secret_post',
    secretId: 'tvm/quota',
    callers: [ORDERS_ROLE],
  },
];

/**
 * Issue 29 item 2 (a caller's share of a quota's day), found by an attacker's review: an evict was applied in
 * the table before it was charged, and the item carried the evictor as having paid for the renewal. A caller
 * whose day share was spent evicted; its evict was refused (429) and the token put back, but a vend that
 * reached the table between the two took a lease that was `prepaid` and minted a token charged to nobody's
 * share. Now an evict only claims the token until its charge holds: the token stays served, and nothing is
 * prepaid by an evict nobody paid for.
 *
 * The pause between the evict's first write and its charge is made explicit (the evict's first counter spend
 * waits on a gate), so the vend lands inside it every time; without the gate the same window is a few
 * table round trips wide, which concurrent vends of the caller's own hit.
 */
describe('An evict whose charge is refused', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let gated: GatedTable;
  let service: TestService;
  /** Another container on the same table, not gated: what it serves is what the table holds. */
  let other: TestService;
  let now = Math.floor(Date.now() / DAY_MS) * DAY_MS + DAY_MS / 2;

  beforeAll(async () => {
    [provider, table] = await Promise.all([
      startFakeProvider((_request, index) => grant(`quota-${index}`)),
      createTestTable(),
    ]);
    // The evicting caller's eviction counter write: held while the evict's claim stands.
    gated = gatedTable(table, (command, key) => command === 'UpdateItemCommand' && key.includes('#evict#'));
    service = await startTestService({
      providers: PROVIDERS(provider.tokenEndpoint),
      secrets: { 'tvm/quota': { client_id: 'quota', client_secret: 'quota-secret' } },
      table: gated.table,
      // The gate holds a counter write while a vend runs: a hold that outlasted the call's bound would move
      // the budgets into the container (a documented fault mode), which is not what this test is about.
      callTimeoutMs: 10_000,
      log: new RecordingLog(),
      now: () => now,
    });
    other = await startTestService({
      providers: PROVIDERS(provider.tokenEndpoint),
      secrets: { 'tvm/quota': { client_id: 'quota', client_secret: 'quota-secret' } },
      table,
      log: new RecordingLog(),
      now: () => now,
    });
    // A fresh DynamoDB Local answers its first calls slowly: a timed-out call would move the budgets into
    // the container (a documented fault mode), which is not what this test is about.
    for (let index = 0; index < 5; index++) {
      now += 2000;
      assert.equal((await service.vend('warm-up', FORCING, ORDERS)).status, 200);
    }
  });

  afterAll(async () => {
    await Promise.all([service.close(), other.close()]);
    await gated.table.dispose();
    await Promise.all([provider.close(), table.dispose()]);
  });

  it('keeps a caller whose day share is spent to it, however it evicts and vends at once: the token stays served and nothing is prepaid', async () => {
    // ORDERS spends its share of the day: 5 new tokens.
    for (let index = 0; index < 5; index++) {
      now += 2000;
      assert.equal((await service.vend('shared-310', FORCING, ORDERS)).status, 200);
    }
    now += 2000;
    const refused = await service.vend('shared-310', FORCING, ORDERS);
    assert.equal(
      refused.status,
      429,
      JSON.stringify({ json: refused.json, requests: provider.requests.length }),
    );
    const spent = provider.requests.length;
    assert.equal(spent, 10);

    // Evict the cached token, and vend while the evict is being charged.
    now += 2000;
    // The token the table holds now (served from the cache, no charge).
    const current = await service.vend('shared-310', undefined, ORDERS);
    assert.equal(current.status, 200);
    const held = gated.arm();
    const evict = service.evict(
      'shared-310',
      { token_fingerprint: tokenFingerprint(String(current.json.access_token)) },
      ORDERS,
    );
    await held.reached;
    const during = await service.vend('shared-310', undefined, ORDERS);
    held.release();
    const evicted = await evict;
    const minted = provider.requests.length - spent;
    // BILLING has spent nothing today: its share must still be there.
    now += 2000;
    const billing = await service.vend('shared-310', FORCING, BILLING);
    assert.deepEqual(
      {
        evict: evicted.status,
        vend: during.status,
        mintedForOrdersPastItsShare: minted,
        billing: billing.status,
      },
      {
        evict: 429,
        vend: 200,
        mintedForOrdersPastItsShare: 0,
        billing: 200,
      },
    );
  });
  it('leaves a token another caller minted while the refused evict was charged cached, not the evicted one', async () => {
    // A fresh minute: the caller may evict once in it.
    now = Math.floor(now / 60_000) * 60_000 + 60_000;
    const first = await service.vend('evict-once', undefined, ORDERS);
    assert.equal(first.status, 200);
    now += 2000;
    const once = await service.evict(
      'evict-once',
      { token_fingerprint: tokenFingerprint(String(first.json.access_token)) },
      ORDERS,
    );
    assert.equal(once.status, 204);
    now += 2000;
    const current = await service.vend('evict-once', undefined, ORDERS);
    assert.equal(current.status, 200);
    assert.notEqual(current.json.access_token, first.json.access_token);
    const before = provider.requests.length;

    // The second evict of the minute is refused; while it is charged, BILLING needs a newer token.
    now += 2000;
    const held = gated.arm();
    const evict = service.evict(
      'evict-once',
      { token_fingerprint: tokenFingerprint(String(current.json.access_token)) },
      ORDERS,
    );
    await held.reached;
    const minted = await service.vend('evict-once', FORCING, BILLING);
    held.release();
    const evicted = await evict;
    // Another container reads the table: it holds the token minted for BILLING.
    const elsewhere = await other.vend('evict-once', undefined, BILLING);
    assert.deepEqual(
      {
        evict: evicted.status,
        minted: minted.status,
        upstreamRequests: provider.requests.length - before,
        servedElsewhere: elsewhere.json.access_token,
      },
      {
        evict: 429,
        minted: 200,
        upstreamRequests: 1,
        servedElsewhere: minted.json.access_token,
      },
    );
  });
});
