import assert from 'node:assert/strict';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { tokenFingerprint } from '../../packages/client/src/wire-contract';
import { createTestTable, type TestTable, tableThrough } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

/** The bound docs/api.md and docs/operations.md state. */
const DOCUMENTED_BOUND_SECONDS = 10;
const SECRETS = { 'tvm/evict-reach': { client_id: 'evict-reach', client_secret: 'evict-reach-secret' } };

/**
 * What an evict taken by one container does in the other containers of the region (docs/api.md): each
 * serves the evicted token from its memory until that copy is 10 s old (`MEMORY_TRUST_SECONDS`), or until it
 * next reads the table for the key, whichever comes first; never after. DynamoDB Local, real SigV4, one
 * clock for all the services, moved by the test.
 */
describe('An evict in the other containers of the region', () => {
  let provider: FakeProvider;
  let table: TestTable;
  const open: TestService[] = [];
  let providerSeq = 0;
  let clock = Date.now();
  const now = () => clock;
  /** How long the provider's tokens last, in seconds. */
  let lifetime = 3600;

  beforeAll(async () => {
    [provider, table] = await Promise.all([
      startFakeProvider((_request, index) => grant(`evict-reach-${index}`, { expires_in: lifetime })),
      createTestTable(),
    ]);
  });

  afterAll(async () => {
    for (const service of open) await service.close();
    await Promise.all([provider.close(), table.dispose()]);
  });

  async function containers(count: number, expiresIn = 3600, through: TestTable = table) {
    providerSeq += 1;
    lifetime = expiresIn;
    const providerEntry = {
      id: `reach-${providerSeq}`,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/evict-reach',
      callers: [ORDERS_ROLE],
    };
    const started = await Promise.all(
      Array.from({ length: count }, () =>
        startTestService({
          providers: [providerEntry],
          secrets: SECRETS,
          table: through,
          log: new RecordingLog(),
          now,
        }),
      ),
    );
    open.push(...started);
    return { id: providerEntry.id, started };
  }

  const tokenOf = (response: { json: Record<string, unknown> }) => String(response.json.access_token);

  it(`serves the evicted token from another container's memory for under ${DOCUMENTED_BOUND_SECONDS} s, never after`, async () => {
    const { id, started } = await containers(2);
    const [a, b] = started as [TestService, TestService];
    const token = tokenOf(await a.vend(id));
    assert.equal(tokenOf(await b.vend(id)), token);
    const before = provider.requests.length;
    const evicted = await b.evict(id, { token_fingerprint: tokenFingerprint(token) });
    assert.equal(evicted.status, 204);

    // The bound as it is: `a` took its copy from the table at the evict's moment, and trusts it this long.
    clock += DOCUMENTED_BOUND_SECONDS * 1000 - 1;
    assert.equal(tokenOf(await a.vend(id)), token, 'memory serves within the bound (docs/api.md)');
    clock += 1;
    const after = await a.vend(id);
    assert.notEqual(tokenOf(after), token);
    assert.equal(tokenOf(await b.vend(id)), tokenOf(after));
    assert.equal(provider.requests.length - before, 1, 'one renewal');
  });

  it('never serves the evicted token once the container reads the table, even to callers joining a renewal', async () => {
    // 20 s tokens: 9 s after issue a copy is still trusted but due for renewal, so a vend reads the table.
    const { id, started } = await containers(2, 20);
    const [a, b] = started as [TestService, TestService];
    const token = tokenOf(await a.vend(id));
    assert.equal(tokenOf(await b.vend(id)), token);
    assert.equal((await b.evict(id, { token_fingerprint: tokenFingerprint(token) })).status, 204);
    clock += 9_000;

    // Two callers of `a` at once, as one flight: the first reads the table (the copy is due for renewal) and
    // renews; the second joins it. Started in one turn, the first reaches the flight first.
    const [first, joined] = [a.vendor.vend(ORDERS_ROLE, id, {}), a.vendor.vend(ORDERS_ROLE, id, {})];
    const [renewed, joiner] = await Promise.all([first, joined]);
    assert.notEqual(renewed.token.accessToken, token);
    assert.notEqual(
      joiner.token.accessToken,
      token,
      'a caller joining the renewal was handed the evicted token',
    );
  });

  it('costs one table read per key and container every 10 s of steady vends, none between', async () => {
    // The table through a client of its own that counts reads (GetItem): what the bound costs.
    let reads = 0;
    const counted = tableThrough(table, (client) =>
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'GetItemCommand') reads += 1;
          return next(args);
        },
        { step: 'initialize', name: 'countReads' },
      ),
    );
    const { id, started } = await containers(1, 3600, counted);
    const [a] = started as [TestService];
    await a.vend(id);
    const afterMiss = reads;
    // A minute of vends, ten a second, on the shared clock.
    for (let tick = 1; tick <= 600; tick++) {
      clock += 100;
      assert.equal((await a.vend(id)).status, 200);
    }
    assert.equal(reads - afterMiss, 60 / DOCUMENTED_BOUND_SECONDS, 'one read per 10 s');
    await counted.dispose();
  });
});
