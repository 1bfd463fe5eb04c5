import assert from 'node:assert/strict';
import { cacheKey } from '../../lambda/cache/cache-key';
import { createTestTable, seedToken, type TestTable } from '../support/dynamodb';
import { AUDIENCE, claimsOf, type OidcFixture, oidcProvider, startOidcFixture } from '../support/oidc';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import { BILLING, startTestService, type TestService } from '../support/test-service';

/**
 * The vend contract against a real authorization server (oidc-provider on loopback) and a real DynamoDB
 * (DynamoDB Local), through real HTTP and real SigV4. Secrets are injected through the credential-source
 * interface (StaticCredentialSource); the Secrets Manager adapter has its own test.
 */
describe('Vend against oidc-provider and DynamoDB Local', () => {
  let oidc: OidcFixture;
  let table: TestTable;
  let service: TestService;
  const log = new RecordingLog();
  const issuedTokens: string[] = [];
  const services: TestService[] = [];

  const providersFor = (endpoint: string) => [
    oidcProvider('basic', endpoint, 'client_secret_basic', 'tvm/basic'),
    oidcProvider('post', endpoint, 'client_secret_post', 'tvm/post'),
    oidcProvider('jwt-pkcs8', endpoint, 'private_key_jwt', 'tvm/jwt-pkcs8'),
    oidcProvider('jwt-pkcs1', endpoint, 'private_key_jwt', 'tvm/jwt-pkcs1'),
    oidcProvider('jwt-jwk', endpoint, 'private_key_jwt', 'tvm/jwt-jwk'),
  ];

  /** Another container: its own memory, the same table. */
  async function newInstance(secrets = oidc.secrets): Promise<TestService> {
    const instance = await startTestService({
      providers: providersFor(oidc.server.tokenEndpoint),
      secrets,
      table,
      log,
    });
    services.push(instance);
    return instance;
  }

  async function vendToken(instance: TestService, providerId: string, body?: unknown): Promise<string> {
    const response = await instance.vend(providerId, body);
    assert.equal(response.status, 200, response.text);
    const token = response.json.access_token;
    assert.equal(typeof token, 'string');
    issuedTokens.push(token as string);
    return token as string;
  }

  /** The cache key the service computes for a provider of this fixture. */
  const keyOf = (providerId: string, secretId: string, audience: string, scopes: string[]) =>
    cacheKey({
      providerId,
      tokenEndpoint: oidc.server.tokenEndpoint,
      clientId: String(oidc.secrets[secretId]?.client_id),
      audience,
      scopes,
    });

  beforeAll(async () => {
    [oidc, table] = await Promise.all([startOidcFixture(), createTestTable()]);
    service = await newInstance();
  });

  afterAll(async () => {
    await Promise.all(services.map((instance) => instance.close()));
    await Promise.all([oidc.server.close(), table.dispose()]);
  });

  for (const [providerId, clientId] of [
    ['basic', 'basic-client'],
    ['post', 'post-client'],
    ['jwt-pkcs8', 'jwt-pkcs8-client'],
    ['jwt-pkcs1', 'jwt-pkcs1-client'],
    ['jwt-jwk', 'jwt-jwk-client'],
  ] as const) {
    it(`vends a token with ${providerId} client authentication`, async () => {
      const response = await service.vend(providerId, { scope: 'demo.write demo.read' });
      assert.equal(response.status, 200, response.text);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      const body = response.json;
      issuedTokens.push(body.access_token as string);
      assert.deepEqual(Object.keys(body).sort(), [
        'access_token',
        'expires_at',
        'expires_in',
        'scope',
        'token_type',
      ]);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.scope, 'demo.read demo.write');
      assert.ok(typeof body.expires_in === 'number' && body.expires_in > 3500 && body.expires_in <= 3600);
      const expiresAt = Date.parse(String(body.expires_at));
      assert.ok(Math.abs(expiresAt - (Date.now() + Number(body.expires_in) * 1000)) < 2000);
      const claims = claimsOf(body.access_token);
      assert.equal(claims.client_id, clientId);
      assert.equal(claims.aud, AUDIENCE);
      assert.equal(claims.scope, 'demo.read demo.write');
    });
  }

  it('sends the requested audience and a fresh client assertion each time', async () => {
    const first = await vendToken(service, 'jwt-pkcs8', { audience: 'https://other.example.test/' });
    assert.equal(claimsOf(first).aud, 'https://other.example.test/');
    await service.evict('jwt-pkcs8', { audience: 'https://other.example.test/' });
    // oidc-provider refuses a replayed jti, so a second grant only succeeds with a new assertion.
    const second = await vendToken(service, 'jwt-pkcs8', { audience: 'https://other.example.test/' });
    assert.notEqual(first, second);
  });

  it('serves a hit from memory, then from the table in another instance, with no upstream request', async () => {
    const before = await oidc.server.tokenRequests();
    const token = await vendToken(service, 'basic', { scope: 'demo.read' });
    const afterMiss = await oidc.server.tokenRequests();
    assert.equal(afterMiss, before + 1);
    assert.equal(await vendToken(service, 'basic', { scope: 'demo.read' }), token);
    const other = await newInstance();
    assert.equal(await vendToken(other, 'basic', { scope: 'demo.read' }), token);
    assert.equal(await oidc.server.tokenRequests(), afterMiss);
    const outcomes = log.entries().filter((entry) => entry.provider === 'basic' && entry.cache !== undefined);
    assert.deepEqual(
      outcomes.slice(-3).map((entry) => entry.cache),
      ['miss', 'memory', 'table'],
    );
  });

  it('shares one token across scope order and form', async () => {
    const before = await oidc.server.tokenRequests();
    const a = await vendToken(service, 'post', { scope: 'demo.write demo.read' });
    const b = await vendToken(service, 'post', { scope: 'demo.read demo.write' });
    const c = await vendToken(service, 'post', { scope: ['demo.write', 'demo.read', 'demo.read'] });
    assert.equal(a, b);
    assert.equal(b, c);
    assert.ok((await oidc.server.tokenRequests()) - before <= 1);
  });

  it('treats an item that expires within the margin as a miss, though the table still holds it', async () => {
    const key = keyOf('basic', 'tvm/basic', AUDIENCE, ['demo.write']);
    await seedToken(table, key, 'about-to-expire', { ageSeconds: 3570, leftSeconds: 30 });
    const before = await oidc.server.tokenRequests();
    const token = await vendToken(await newInstance(), 'basic', { scope: 'demo.write' });
    assert.notEqual(token, 'about-to-expire');
    assert.equal(await oidc.server.tokenRequests(), before + 1);
  });

  it('refreshes when min_ttl asks for more than the cached token has left', async () => {
    const key = keyOf('post', 'tvm/post', 'https://other.example.test/', ['demo.read']);
    await seedToken(table, key, 'forty-minutes-left', { ageSeconds: 1200, leftSeconds: 2400 });
    const instance = await newInstance();
    const body = { audience: 'https://other.example.test/' };
    assert.equal((await instance.vend('post', body)).json.access_token, 'forty-minutes-left');
    const before = await oidc.server.tokenRequests();
    const refreshed = await vendToken(instance, 'post', { ...body, min_ttl: 3000 });
    assert.notEqual(refreshed, 'forty-minutes-left');
    assert.equal(await oidc.server.tokenRequests(), before + 1);
  });

  it('refuses a min_ttl longer than the tokens the provider issues', async () => {
    const response = await service.vend('basic', { min_ttl: 7200 });
    assert.equal(response.status, 400);
    assert.equal(response.json.error, 'invalid_request');
    assert.match(String(response.json.message), /min_ttl 7200 cannot be met/);
  });

  it('evicts on DELETE, in memory and in the table', async () => {
    const first = await vendToken(service, 'jwt-jwk', { scope: 'demo.read' });
    const evicted = await service.evict('jwt-jwk', { scope: 'demo.read' });
    assert.equal(evicted.status, 204);
    const before = await oidc.server.tokenRequests();
    const second = await vendToken(await newInstance(), 'jwt-jwk', { scope: 'demo.read' });
    assert.notEqual(first, second);
    assert.equal(await oidc.server.tokenRequests(), before + 1);
  });

  it('makes one upstream request for 50 concurrent vends of a cold key', async () => {
    const before = await oidc.server.tokenRequests();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        service.vend('jwt-pkcs1', { scope: 'demo.read demo.write', audience: 'https://other.example.test/' }),
      ),
    );
    assert.ok(responses.every((response) => response.status === 200));
    assert.equal(new Set(responses.map((response) => response.json.access_token)).size, 1);
    assert.equal(await oidc.server.tokenRequests(), before + 1);
    issuedTokens.push(String(responses[0]?.json.access_token));
  });

  it('never hands one scope set the token of another when both are vended at once', async () => {
    const instance = await newInstance();
    const requests = Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? 'demo.read' : 'demo.write'));
    const responses = await Promise.all(
      requests.map((scope) => instance.vend('basic', { scope, min_ttl: 10 })),
    );
    responses.forEach((response, index) => {
      assert.equal(response.status, 200);
      issuedTokens.push(String(response.json.access_token));
      assert.equal(claimsOf(response.json.access_token).scope, requests[index]);
    });
  });

  it('never gives a new client_id the token cached for the old one', async () => {
    const token = await vendToken(service, 'post', { scope: 'demo.write' });
    const rotated = { ...oidc.secrets, 'tvm/post': { ...oidc.secrets['tvm/basic'] } };
    const before = await oidc.server.tokenRequests();
    // The entry authenticates with client_secret_post; the basic client accepts only basic, so it is refused.
    const response = await (await newInstance(rotated)).vend('post', { scope: 'demo.write' });
    assert.equal(await oidc.server.tokenRequests(), before + 1);
    assert.notEqual(response.json.access_token, token);
  });

  it('refuses a wrong client secret with upstream_rejected and the provider error, and caches nothing', async () => {
    const wrong = {
      ...oidc.secrets,
      'tvm/basic': { client_id: 'basic-client', client_secret: 'not-the-secret' },
    };
    const instance = await newInstance(wrong);
    const before = await oidc.server.tokenRequests();
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await instance.vend('basic', {
        scope: 'demo.read demo.write',
        audience: 'https://other.example.test/',
      });
      assert.equal(response.status, 502);
      assert.equal(response.json.error, 'upstream_rejected');
      assert.equal(response.json.upstream_error, 'invalid_client');
      assert.ok(!response.text.includes('not-the-secret'));
    }
    assert.equal(await oidc.server.tokenRequests(), before + 2);
  });

  it('lists only the providers this caller may vend', async () => {
    const mine = await service.call('GET', '/v1/providers');
    assert.equal(mine.status, 200);
    const providers = mine.json.providers as Array<Record<string, unknown>>;
    assert.deepEqual(
      providers.map((provider) => provider.id),
      ['basic', 'post', 'jwt-pkcs8', 'jwt-pkcs1', 'jwt-jwk'],
    );
    assert.ok(!mine.text.includes('tvm/') && !mine.text.includes('127.0.0.1'), 'no secret ids or endpoints');
    const theirs = await service.call('GET', '/v1/providers', undefined, BILLING);
    assert.deepEqual(theirs.json.providers, []);
  });

  it('logs no client secret, private key or token across these vends', () => {
    assert.ok(log.lines.length > 20);
    assertNothingSensitive(log.lines, [...oidc.sensitive, ...issuedTokens]);
  });
});
