import assert from 'node:assert/strict';
import { cacheKey } from '../../lambda/cache/cache-key';
import { EVICT_FLOOR_SECONDS } from '../../lambda/token-vendor';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { tokenFingerprint } from '../../packages/client/src/wire-contract';
import { createTestTable, seedToken, type TestTable } from '../support/dynamodb';
import { type InstanceGroup, startInstances } from '../support/instances';
import { RecordingLog } from '../support/recording-log';
import { ORDERS_ROLE, type TestService } from '../support/test-service';

/**
 * Evicting the token a downstream API rejected, as many callers in many containers do at once: only the token
 * named, only while it is the cached one, only once it is past the floor — one renewal in all.
 */
describe('Evicting a rejected token', () => {
  let provider: FakeProvider;
  let table: TestTable;
  const log = new RecordingLog();
  let group: InstanceGroup;
  let instances: readonly TestService[];

  const providerEntry = () => ({
    id: 'revoking',
    tokenEndpoint: provider.tokenEndpoint,
    clientAuth: 'client_secret_post',
    secretId: 'tvm/revoking',
    callers: [ORDERS_ROLE],
  });
  const key = () =>
    cacheKey({
      providerId: 'revoking',
      tokenEndpoint: provider.tokenEndpoint,
      clientId: 'revoking',
      scopes: [],
    });

  beforeAll(async () => {
    [provider, table] = await Promise.all([
      startFakeProvider((_request, index) => grant(`renewed-${index}`)),
      createTestTable(),
    ]);
    group = await startInstances(5, {
      providers: [providerEntry()],
      secrets: { 'tvm/revoking': { client_id: 'revoking', client_secret: 'revoking-secret' } },
      table,
      log,
      evictFloorSeconds: EVICT_FLOOR_SECONDS,
    });
    instances = group.instances;
  });

  afterAll(async () => {
    await group.close();
    await Promise.all([provider.close(), table.dispose()]);
  });

  it('turns 50 evictions of the same rejected token, then 50 vends, into one upstream request', async () => {
    await seedToken(table, key(), 'revoked-downstream', { ageSeconds: 120, leftSeconds: 3000 });
    const fingerprint = tokenFingerprint('revoked-downstream');
    const at = (index: number) => instances[index % instances.length] as TestService;
    const evictions = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        at(index).evict('revoking', { token_fingerprint: fingerprint }),
      ),
    );
    assert.ok(evictions.every((response) => response.status === 204));
    const outcomes = log.entries().filter((line) => line.evict !== undefined);
    assert.equal(outcomes.filter((line) => line.evict === 'evicted').length, 1, 'one eviction took');
    const before = provider.requests.length;
    const vends = await Promise.all(Array.from({ length: 50 }, (_, index) => at(index).vend('revoking')));
    assert.ok(vends.every((response) => response.status === 200));
    assert.equal(new Set(vends.map((response) => response.json.access_token)).size, 1);
    assert.notEqual(vends[0]?.json.access_token, 'revoked-downstream');
    assert.equal(provider.requests.length - before, 1);

    // The renewed token is just issued: evicting it again does nothing, however often it is asked.
    const renewed = String(vends[0]?.json.access_token);
    await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        at(index).evict('revoking', { token_fingerprint: tokenFingerprint(renewed) }),
      ),
    );
    const again = await at(0).vend('revoking');
    assert.equal(again.json.access_token, renewed);
    assert.equal(provider.requests.length - before, 1);
  });

  it('refuses an evict that does not name the rejected token, and changes nothing', async () => {
    await seedToken(table, key(), 'shared-by-two-callers', { ageSeconds: 120, leftSeconds: 3000 });
    for (const body of [undefined, {}, { scope: 'a' }]) {
      // The raw call: the helper's evict names the last token vended.
      const response = await instances[0]?.call(
        'DELETE',
        '/v1/tokens/revoking',
        body === undefined ? undefined : JSON.stringify(body),
      );
      assert.equal(response?.status, 400);
      assert.equal(response?.json.error, 'invalid_request');
      assert.match(String(response?.json.message), /token_fingerprint is required/);
    }
    assert.equal((await instances[1]?.vend('revoking'))?.json.access_token, 'shared-by-two-callers');
  });

  it('drops the memory copy of the named token in the container that receives the evict, whatever the table holds', async () => {
    const instance = instances[2] as TestService;
    await seedToken(table, key(), 'stale-in-memory', { ageSeconds: 120, leftSeconds: 3000 });
    assert.equal((await instance.vend('revoking')).json.access_token, 'stale-in-memory');
    // Renewed elsewhere since: this container still holds the old one in memory.
    await seedToken(table, key(), 'renewed-elsewhere', { ageSeconds: 60, leftSeconds: 3000 });
    assert.equal((await instance.vend('revoking')).json.access_token, 'stale-in-memory');
    const evicted = await instance.evict('revoking', {
      token_fingerprint: tokenFingerprint('stale-in-memory'),
    });
    assert.equal(evicted.status, 204);
    assert.equal((await instance.vend('revoking')).json.access_token, 'renewed-elsewhere');
  });

  it('refuses a fingerprint that is not one', async () => {
    const response = await instances[0]?.evict('revoking', { token_fingerprint: 'not-a-fingerprint' });
    assert.equal(response?.status, 400);
    assert.match(String(response?.json.message), /token_fingerprint/);
  });
});
