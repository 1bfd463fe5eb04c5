import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../../local/dynamodb-local';
import { TvmClient, TvmError } from '../../packages/client/src';

const CREDENTIALS = { accessKeyId: 'AKIACLIENTERRORS0001', secretAccessKey: 'client-errors-secret' };

/**
 * What the client does with answers the service never gives but a network or a proxy can: nothing listening,
 * non-JSON bodies, a 200 without a token, and 503s it retries. A loopback server plays the part.
 */
describe('Class: TvmClient, when the answer is not the service', () => {
  let server: Server;
  let endpoint: string;
  let reply: (response: ServerResponse) => void = (response) => response.end();
  let requests = 0;

  beforeAll(async () => {
    server = createServer((_request, response) => {
      requests += 1;
      reply(response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const client = () =>
    new TvmClient({ endpoint, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 2 });

  const rejectsWith = (call: Promise<unknown>, code: string, status?: number) =>
    assert.rejects(call, (error: unknown) => {
      assert.ok(error instanceof TvmError);
      assert.equal(error.code, code);
      assert.equal(error.status, status);
      return true;
    });

  it('names a network failure network_error, with the reason and the cause kept', async () => {
    const port = await freePort();
    const unreachable = new TvmClient({ endpoint: `http://127.0.0.1:${port}`, credentials: CREDENTIALS });
    await assert.rejects(unreachable.getToken('any'), (error: unknown) => {
      assert.ok(error instanceof TvmError);
      assert.equal(error.code, 'network_error');
      assert.match(error.message, /ECONNREFUSED/);
      assert.ok(error.cause, 'the underlying error is kept');
      return true;
    });
  });

  it('names missing credentials no_credentials, not the SDK error', async () => {
    // A credential provider failing as the SDK's chain does when it finds nothing.
    const none = new TvmClient({
      endpoint,
      credentials: async () => {
        throw Object.assign(new Error('Could not load credentials from any providers'), {
          name: 'CredentialsProviderError',
        });
      },
    });
    await assert.rejects(none.getToken('any'), (error: unknown) => {
      assert.ok(error instanceof TvmError);
      assert.equal(error.code, 'no_credentials');
      assert.match(error.message, /No AWS credentials to sign with/);
      return true;
    });
  });

  it('names an answer without JSON invalid_response, with its status', async () => {
    reply = (response) => {
      response.writeHead(502, { 'content-type': 'text/html' });
      response.end('<html>Bad gateway</html>');
    };
    await rejectsWith(client().getToken('any'), 'invalid_response', 502);
  });

  it('names a 200 without a token invalid_response', async () => {
    reply = (response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"token_type":"Bearer"}');
    };
    await rejectsWith(client().getToken('any'), 'invalid_response');
  });

  it('names an error body without an error code invalid_response, keeping the status', async () => {
    reply = (response) => {
      response.writeHead(418, { 'content-type': 'application/json' });
      response.end('{"message":"teapot"}');
    };
    await rejectsWith(client().getToken('any'), 'invalid_response', 418);
  });

  it("retries a 503 after the service's Retry-After, then passes the error on", async () => {
    reply = (response) => {
      response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      response.end('{"error":"service_unavailable","message":"down","request_id":"r-1"}');
    };
    const before = requests;
    await assert.rejects(client().getToken('any'), (error: unknown) => {
      assert.ok(error instanceof TvmError);
      assert.equal(error.code, 'service_unavailable');
      assert.equal(error.details.retryAfterSeconds, 1);
      assert.equal(error.details.requestId, 'r-1');
      return true;
    });
    assert.equal(requests - before, 2);
  });

  it('reads the region from an execute-api host name', async () => {
    const previous = process.env.AWS_REGION;
    delete process.env.AWS_REGION;
    try {
      reply = (response) => response.end('{}');
      let signedFor = '';
      const regional = new TvmClient({
        endpoint: 'https://abc123.execute-api.eu-north-1.amazonaws.com/live',
        credentials: CREDENTIALS,
        fetch: async (_url, init) => {
          signedFor = String(new Headers(init?.headers).get('authorization'));
          return new Response('{"providers":[]}', { status: 200 });
        },
      });
      assert.deepEqual(await regional.listProviders(), []);
      assert.match(signedFor, /\/eu-north-1\/execute-api\/aws4_request/);
    } finally {
      if (previous !== undefined) process.env.AWS_REGION = previous;
    }
  });
});
