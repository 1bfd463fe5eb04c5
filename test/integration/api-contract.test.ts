import assert from 'node:assert/strict';
import { request } from 'node:http';
import { type FakeProvider, startFakeProvider } from '../../local/loopback/fake-provider';
import { signRequest } from '../../packages/client/src/sigv4-signer';
import { RecordingLog } from '../support/recording-log';
import { signedFetch } from '../support/sigv4-client';
import {
  BILLING,
  ORDERS,
  ORDERS_ROLE,
  OUTSIDER,
  startTestService,
  type TestService,
} from '../support/test-service';

/**
 * The request side of docs/DESIGN.md's error table through the local gateway: real SigV4 signing by the AWS
 * SDK's signer, real verification, and bad input that must change nothing (no upstream request).
 */
describe('API contract: authentication, authorization and input errors', () => {
  let provider: FakeProvider;
  let service: TestService;
  const log = new RecordingLog();

  beforeAll(async () => {
    provider = await startFakeProvider();
    service = await startTestService({
      providers: [
        {
          id: 'partner',
          tokenEndpoint: provider.tokenEndpoint,
          clientAuth: 'client_secret_basic',
          secretId: 'tvm/partner',
          audienceParameter: 'audience',
          defaultAudience: 'https://partner.example/api',
          allowedAudiences: ['https://partner.example/api'],
          defaultScopes: ['read'],
          allowedScopes: ['read', 'write'],
          callers: [ORDERS_ROLE],
        },
        {
          id: 'misconfigured',
          tokenEndpoint: provider.tokenEndpoint,
          clientAuth: 'client_secret_basic',
          secretId: 'tvm/nowhere',
          callers: ['*'],
        },
      ],
      secrets: { 'tvm/partner': { client_id: 'partner-client', client_secret: 'partner-secret' } },
      log,
    });
  });

  afterAll(async () => {
    await service.close();
    await provider.close();
  });

  function assertError(
    response: { status: number; json: Record<string, unknown> },
    status: number,
    code: string,
  ) {
    assert.equal(response.status, status, JSON.stringify(response.json));
    assert.equal(response.json.error, code);
    assert.equal(typeof response.json.message, 'string');
    assert.match(String(response.json.request_id), /^[0-9a-f-]{36}$/);
  }

  it('vends for an allowed caller whose credentials are an assumed-role session', async () => {
    const response = await service.vend('partner');
    assert.equal(response.status, 200);
    const request = provider.requests.at(-1);
    assert.equal(request?.params.audience, 'https://partner.example/api');
    assert.equal(request?.params.scope, 'read');
    assert.match(String(request?.headers.authorization), /^Basic /);
  });

  describe('at the gateway (403 access_denied, nothing reaches the function)', () => {
    const url = () => `${service.gateway.url}/v1/tokens/partner`;

    it('refuses an unsigned request', async () => {
      assertError(await signedFetch({ method: 'POST', url: url() }), 403, 'access_denied');
    });

    it('refuses a signature made with the wrong secret key', async () => {
      const response = await signedFetch({
        method: 'POST',
        url: url(),
        credentials: { accessKeyId: ORDERS.accessKeyId, secretAccessKey: 'wrong' },
      });
      assertError(response, 403, 'access_denied');
      assert.match(String(response.json.message), /signature we calculated does not match/);
    });

    it('refuses an unknown access key', async () => {
      const response = await signedFetch({
        method: 'POST',
        url: url(),
        credentials: { accessKeyId: 'AKIANOBODY0000000000', secretAccessKey: 'x' },
      });
      assertError(response, 403, 'access_denied');
      assert.match(String(response.json.message), /security token included in the request is invalid/);
    });

    it('refuses a body changed after signing', async () => {
      const response = await signedFetch({
        method: 'POST',
        url: url(),
        body: '{"scope":"read"}',
        credentials: ORDERS,
        tamper: (request) => {
          request.body = '{"scope":"write"}';
        },
      });
      assertError(response, 403, 'access_denied');
    });

    it('refuses a signature for another service and an expired signature', async () => {
      const otherService = await signedFetch({
        method: 'POST',
        url: url(),
        credentials: ORDERS,
        service: 's3',
      });
      assertError(otherService, 403, 'access_denied');
      const old = await signedFetch({
        method: 'POST',
        url: url(),
        credentials: ORDERS,
        signingDate: new Date(Date.now() - 20 * 60 * 1000),
      });
      assertError(old, 403, 'access_denied');
      assert.match(String(old.json.message), /Signature expired/);
      // Six minutes is past API Gateway's five.
      const skewed = await signedFetch({
        method: 'POST',
        url: url(),
        credentials: ORDERS,
        signingDate: new Date(Date.now() - 6 * 60 * 1000),
      });
      assertError(skewed, 403, 'access_denied');
    });

    it('checks the region and the host a signature is for, as API Gateway does', async () => {
      const otherRegion = await signedFetch({
        method: 'POST',
        url: url(),
        credentials: ORDERS,
        region: 'eu-west-9',
      });
      assertError(otherRegion, 403, 'access_denied');
      assert.match(String(otherRegion.json.message), /region/);
      // Signed for another API's host, then sent here (fetch would not send a Host of our choosing).
      const target = new URL(url());
      const headers = await signRequest(
        { method: 'POST', url: new URL(`https://api.elsewhere.example${target.pathname}`), headers: {} },
        { credentials: ORDERS, region: 'us-east-1' },
      );
      const status = await new Promise<number>((resolve, reject) => {
        const sent = request(
          target,
          { method: 'POST', headers: { ...headers, host: 'api.elsewhere.example' } },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        sent.on('error', reject);
        sent.end();
      });
      assert.equal(status, 403);
    });

    it('answers a path that is not valid percent-encoding 400, not 502', async () => {
      const response = await signedFetch({
        method: 'POST',
        url: `${service.gateway.url}/v1/tokens/%E0%A4%A`,
        credentials: ORDERS,
      });
      assertError(response, 400, 'invalid_request');
    });

    it('answers an unknown route as API Gateway does', async () => {
      const response = await service.call('GET', '/v1/tokens/partner');
      assertError(response, 403, 'access_denied');
      assert.equal(response.json.message, 'Missing Authentication Token');
    });
  });

  describe('in the function', () => {
    const cases: Array<
      [string, () => Promise<{ status: number; json: Record<string, unknown> }>, number, string]
    > = [
      [
        'an unknown provider, answered as a forbidden one',
        () => service.vend('nobody'),
        403,
        'access_denied',
      ],
      [
        'a caller not in the provider callers',
        () => service.vend('partner', undefined, BILLING),
        403,
        'access_denied',
      ],
      [
        'a caller from another account',
        () => service.vend('partner', undefined, OUTSIDER),
        403,
        'access_denied',
      ],
      [
        'a scope outside allowedScopes',
        () => service.vend('partner', { scope: 'read admin' }),
        403,
        'access_denied',
      ],
      [
        'an audience outside allowedAudiences',
        () => service.vend('partner', { audience: 'https://evil.example' }),
        403,
        'access_denied',
      ],
      ['malformed JSON', () => service.vend('partner', '{"scope": '), 400, 'invalid_request'],
      [
        'an unknown field',
        () => service.vend('partner', { scope: 'read', lifetime: 5 }),
        400,
        'invalid_request',
      ],
      [
        'a body over 8 KiB',
        () => service.vend('partner', { scope: 'read', audience: 'x'.repeat(9000) }),
        400,
        'invalid_request',
      ],
      ['min_ttl out of range', () => service.vend('partner', { min_ttl: 999_999 }), 400, 'invalid_request'],
      ['bad scope characters', () => service.vend('partner', { scope: ['re"ad'] }), 400, 'invalid_request'],
      [
        'an evict by a caller not allowed',
        () => service.evict('partner', { token_fingerprint: '0123456789abcdef' }, BILLING),
        403,
        'access_denied',
      ],
    ];
    for (const [name, act, status, code] of cases) {
      it(`refuses ${name} with ${status} ${code} and makes no upstream request`, async () => {
        const before = provider.requests.length;
        assertError(await act(), status, code);
        assert.equal(provider.requests.length, before);
      });
    }

    it('answers a misconfiguration with 500 internal_error and no detail, and logs what is wrong', async () => {
      const response = await service.vend('misconfigured');
      assertError(response, 500, 'internal_error');
      assert.ok(!String(response.json.message).includes('tvm/nowhere'));
      const logged = log.entries().find((line) => line.message === 'misconfiguration');
      assert.match(String(logged?.error_message), /secret tvm\/nowhere is not in the secrets file/);
      assert.equal(logged?.request_id, response.json.request_id);
    });

    it('logs the request id, principal, provider and status of each request', () => {
      const line = log.entries().find((entry) => entry.message === 'request' && entry.status === 200);
      assert.equal(line?.principal, ORDERS_ROLE);
      assert.equal(line?.provider, 'partner');
      assert.equal(line?.cache, 'miss');
      assert.equal(typeof line?.upstream_latency_ms, 'number');
      assert.equal(line?.upstream_status, 200);
    });
  });
});
