import assert from 'node:assert/strict';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { RecordingLog } from '../support/recording-log';
import { BILLING, ORDERS, ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const BILLING_ROLE = 'arn:aws:iam::111122223333:role/billing-service';

/**
 * Authorization per scope and audience: a caller gets what it may ask for, and no more than it asked for —
 * through real SigV4 callers against a loopback provider that grants what it is told to.
 */
describe('Caller policy per scope and audience', () => {
  let provider: FakeProvider;
  let service: TestService;
  const log = new RecordingLog();

  beforeAll(async () => {
    provider = await startFakeProvider((request, index) =>
      grant(`scoped-${index}`, { scope: request.params.scope }),
    );
    service = await startTestService({
      providers: [
        {
          id: 'scoped',
          tokenEndpoint: provider.tokenEndpoint,
          clientAuth: 'client_secret_post',
          secretId: 'tvm/scoped',
          audienceParameter: 'audience',
          defaultAudience: 'https://api.example/a',
          allowedAudiences: ['https://api.example/a', 'https://api.example/b'],
          defaultScopes: ['read'],
          allowedScopes: ['read', 'write', 'admin'],
          callers: [
            { principal: ORDERS_ROLE, scopes: ['read'], audiences: ['https://api.example/a'] },
            BILLING_ROLE,
          ],
        },
      ],
      secrets: { 'tvm/scoped': { client_id: 'scoped', client_secret: 'scoped-secret' } },
      log,
    });
  });

  afterAll(async () => {
    await service.close();
    await provider.close();
  });

  it('refuses a caller limited to one scope any other, and any other audience', async () => {
    for (const body of [{ scope: 'write' }, { scope: 'read admin' }, { audience: 'https://api.example/b' }]) {
      const refused = await service.vend('scoped', body, ORDERS);
      assert.equal(refused.status, 403, JSON.stringify(body));
      assert.equal(refused.json.error, 'access_denied');
    }
    assert.equal((await service.vend('scoped', { scope: 'read' }, ORDERS)).status, 200);
    assert.equal((await service.vend('scoped', { scope: 'admin' }, BILLING)).status, 200);
  });

  it('lists for each caller only what it may vend', async () => {
    const orders = (await service.call('GET', '/v1/providers', undefined, ORDERS)).json.providers as Array<
      Record<string, unknown>
    >;
    assert.deepEqual(orders[0]?.allowedScopes, ['read']);
    assert.deepEqual(orders[0]?.allowedAudiences, ['https://api.example/a']);
    const billing = (await service.call('GET', '/v1/providers', undefined, BILLING)).json.providers as Array<
      Record<string, unknown>
    >;
    assert.deepEqual(billing[0]?.allowedScopes, ['read', 'write', 'admin']);
  });

  it('refuses a token that grants more than was asked, and never caches it', async () => {
    provider.setBehaviour((_request, index) => grant(`greedy-${index}`, { scope: 'write admin:all' }));
    const before = provider.requests.length;
    for (let call = 0; call < 2; call++) {
      const response = await service.vend('scoped', { scope: 'write' }, BILLING);
      assert.equal(response.status, 502, response.text);
      assert.equal(response.json.error, 'upstream_invalid_response');
      assert.match(String(response.json.message), /admin:all/);
    }
    assert.equal(provider.requests.length - before, 2, 'asked again: the greedy token was not kept');
  });

  it('refuses a JWT whose audience is not the one asked for', async () => {
    const jwt = ['{"alg":"none"}', JSON.stringify({ aud: 'https://elsewhere.example', scope: 'read' })]
      .map((part) => Buffer.from(part).toString('base64url'))
      .concat('sig')
      .join('.');
    provider.setBehaviour(() => ({
      status: 200,
      body: { access_token: jwt, token_type: 'Bearer', expires_in: 3600 },
    }));
    const response = await service.vend(
      'scoped',
      { scope: 'read', audience: 'https://api.example/b' },
      BILLING,
    );
    assert.equal(response.status, 502);
    assert.match(String(response.json.message), /audience/);
  });
});
