import assert from 'node:assert/strict';
import { MAX_RETRY_AFTER_MS } from '../../lambda/backoff-policy';
import { freePort } from '../../local/dynamodb-local';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { createTestTable, dynamoDbClient, type TestTable } from '../support/dynamodb';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const CLIENT_SECRET = 'fake-provider-client-secret-value';

/**
 * Every upstream row of the error table, each produced by a real fault on a loopback token endpoint, and
 * the table failing under the service (a DynamoDB endpoint nobody listens on).
 */
describe('Upstream faults', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let service: TestService;
  const log = new RecordingLog();
  const issued: string[] = [];

  const entry = (overrides: Record<string, unknown> = {}) => ({
    id: 'fake',
    tokenEndpoint: provider.tokenEndpoint,
    clientAuth: 'client_secret_post',
    secretId: 'tvm/fake',
    allowedScopes: ['a', 'b'],
    defaultScopes: ['a'],
    callers: [ORDERS_ROLE],
    timeoutMs: 500,
    ...overrides,
  });
  const secrets = { 'tvm/fake': { client_id: 'fake-client', client_secret: CLIENT_SECRET } };
  /**
   * The service's clock: each test starts past any backoff an earlier one left on the provider (backoff is
   * per provider, and every test here uses the one provider).
   */
  let offsetMs = 0;
  const afterAnyBackoff = () => {
    offsetMs += MAX_RETRY_AFTER_MS + 1000;
  };

  beforeAll(async () => {
    [provider, table] = await Promise.all([startFakeProvider(), createTestTable()]);
    service = await startTestService({
      providers: [entry()],
      secrets,
      table,
      log,
      now: () => Date.now() + offsetMs,
    });
  });

  afterAll(async () => {
    await service.close();
    await Promise.all([provider.close(), table.dispose()]);
  });

  /** Vends a scope nobody has vended yet, so the cache never answers for the provider. */
  let fresh = 0;
  const vendCold = async (instance = service) => {
    fresh += 1;
    afterAnyBackoff();
    await instance.evict('fake', { scope: 'a' });
    return instance.vend('fake', { scope: 'a' });
  };

  it('retries a 500 and answers 503 upstream_unavailable after the last attempt', async () => {
    provider.setBehaviour(() => ({ status: 500, body: { error: 'server_error' } }));
    const before = provider.requests.length;
    const response = await vendCold();
    assert.equal(response.status, 503);
    assert.equal(response.json.error, 'upstream_unavailable');
    assert.equal(typeof response.json.request_id, 'string');
    assert.equal(provider.requests.length - before, 3);
  });

  it('never caches a failure: the next vend asks the provider again and succeeds', async () => {
    provider.setBehaviour((_request, index) => grant(`recovered-${index}`));
    afterAnyBackoff();
    const before = provider.requests.length;
    const response = await service.vend('fake', { scope: 'a' });
    assert.equal(response.status, 200);
    assert.equal(provider.requests.length - before, 1);
    issued.push(String(response.json.access_token));
  });

  it('honours a short Retry-After on 429 and then succeeds', async () => {
    provider.enqueue({ status: 429, headers: { 'retry-after': '0' }, body: { error: 'slow_down' } });
    const before = provider.requests.length;
    const response = await vendCold();
    assert.equal(response.status, 200, response.text);
    assert.equal(provider.requests.length - before, 2);
    issued.push(String(response.json.access_token));
  });

  it('passes on a Retry-After longer than the time budget with 503', async () => {
    provider.setBehaviour(() => ({
      status: 429,
      headers: { 'retry-after': '120' },
      body: { error: 'slow_down' },
    }));
    const before = provider.requests.length;
    const response = await vendCold();
    assert.equal(response.status, 503);
    assert.equal(response.json.error, 'upstream_unavailable');
    assert.equal(response.headers.get('retry-after'), '120');
    assert.equal(provider.requests.length - before, 1, 'no retry that the provider asked us not to make');
    provider.setBehaviour((_request, index) => grant(`fake-token-${index}`));
  });

  it('answers 502 upstream_invalid_response to an HTML page', async () => {
    provider.enqueue({ status: 200, body: '<html><body>Welcome</body></html>' });
    const response = await vendCold();
    assert.equal(response.status, 502);
    assert.equal(response.json.error, 'upstream_invalid_response');
  });

  it('answers 502 upstream_invalid_response to JSON without access_token', async () => {
    provider.enqueue({ status: 200, body: { token_type: 'Bearer', expires_in: 3600 } });
    const response = await vendCold();
    assert.equal(response.json.error, 'upstream_invalid_response');
  });

  it('answers 502 upstream_invalid_response to nonsense expires_in and to a non-Bearer token_type', async () => {
    provider.enqueue(grant('leaky-token-1', { expires_in: -30 }));
    assert.equal((await vendCold()).json.error, 'upstream_invalid_response');
    provider.enqueue(grant('leaky-token-2', { token_type: 'mac' }));
    const response = await vendCold();
    assert.equal(response.json.error, 'upstream_invalid_response');
    assert.ok(!response.text.includes('leaky-token-2'), 'the refused token is not echoed');
  });

  it('answers 504 upstream_timeout when the provider never answers', async () => {
    provider.enqueue({ hang: true });
    const before = provider.requests.length;
    const response = await vendCold();
    assert.equal(response.status, 504);
    assert.equal(response.json.error, 'upstream_timeout');
    assert.equal(provider.requests.length - before, 1, 'a timeout is not retried');
  });

  it('retries a dropped connection', async () => {
    provider.enqueue({ destroy: true });
    const before = provider.requests.length;
    const response = await vendCold();
    assert.equal(response.status, 200);
    assert.equal(provider.requests.length - before, 2);
    issued.push(String(response.json.access_token));
  });

  it('answers 503 when nothing listens at the token endpoint', async () => {
    const port = await freePort();
    const instance = await startTestService({
      providers: [entry({ tokenEndpoint: `http://127.0.0.1:${port}/token` })],
      secrets,
      log,
    });
    try {
      const response = await instance.vend('fake', { scope: 'a' });
      assert.equal(response.status, 503);
      assert.equal(response.json.error, 'upstream_unavailable');
    } finally {
      await instance.close();
    }
  });

  it('maps a provider 401 or 403 without an OAuth body to upstream_rejected with the status in the message', async () => {
    provider.enqueue({ status: 401, body: 'Unauthorized' });
    const unauthorized = await vendCold();
    assert.equal(unauthorized.status, 502);
    assert.equal(unauthorized.json.error, 'upstream_rejected');
    assert.match(String(unauthorized.json.message), /HTTP 401 \(bad client credentials\)/);
    provider.enqueue({
      status: 403,
      body: { error: 'access_denied', error_description: 'Service not enabled' },
    });
    const forbidden = await vendCold();
    assert.equal(forbidden.json.error, 'upstream_rejected');
    assert.equal(forbidden.json.upstream_error, 'access_denied');
  });

  it('passes on only the OAuth error codes of the RFCs; anything else a provider says is "other"', async () => {
    provider.enqueue({ status: 400, body: { error: '<script>alert(1)</script> call +47 000' } });
    const odd = await vendCold();
    assert.equal(odd.json.error, 'upstream_rejected');
    assert.equal(odd.json.upstream_error, 'other');
    assert.ok(!odd.text.includes('script'));
    provider.enqueue({ status: 400, body: { error: 'invalid_scope' } });
    assert.equal((await vendCold()).json.upstream_error, 'invalid_scope');
  });

  it('serves tokens when the table is down, logging the bypass', async () => {
    const port = await freePort();
    const deadTable = { ...table, client: dynamoDbClient(`http://127.0.0.1:${port}`) };
    const instance = await startTestService({ providers: [entry()], secrets, table: deadTable, log });
    try {
      const first = await instance.vend('fake', { scope: 'b' });
      assert.equal(first.status, 200);
      issued.push(String(first.json.access_token));
      const before = provider.requests.length;
      const second = await instance.vend('fake', { scope: 'b' });
      assert.equal(second.json.access_token, first.json.access_token, 'memory still serves');
      assert.equal(provider.requests.length, before);
      const bypasses = log.entries().filter((line) => line.event === 'cache_table_error');
      assert.ok(bypasses.some((line) => line.operation === 'get'));
      assert.ok(bypasses.some((line) => line.operation === 'put'));
    } finally {
      await instance.close();
      deadTable.client.destroy();
    }
  });

  it('sends the client secret only in the body for client_secret_post, and JSON when told to', async () => {
    const instance = await startTestService({ providers: [entry({ bodyEncoding: 'json' })], secrets, log });
    try {
      const before = provider.requests.length;
      const response = await instance.vend('fake', { scope: 'b a' });
      assert.equal(response.status, 200);
      issued.push(String(response.json.access_token));
      const request = provider.requests[before];
      assert.ok(request);
      assert.equal(request.contentType, 'application/json');
      assert.deepEqual(JSON.parse(request.rawBody), {
        grant_type: 'client_credentials',
        client_id: 'fake-client',
        client_secret: CLIENT_SECRET,
        scope: 'a b',
      });
      assert.equal(request.headers.authorization, undefined);
    } finally {
      await instance.close();
    }
  });

  it('logs no client secret or token, however the provider failed', () => {
    assert.ok(fresh > 5);
    assertNothingSensitive(log.lines, [CLIENT_SECRET, 'leaky-token-1', 'leaky-token-2', ...issued]);
  });
});
