import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerCredentialSource } from '../../lambda/credentials/secrets-manager-credential-source';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import {
  createTestTable,
  dynamoDbClient,
  type TestTable,
  type WatchedTable,
  watchLeaseRefusals,
} from '../support/dynamodb';
import { startInstances } from '../support/instances';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import {
  type SecretsManagerEndpoint,
  secretsManagerClient,
  startSecretsManagerEndpoint,
} from '../support/secrets-manager-endpoint';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const CLIENT_SECRET = 'dependency-faults-client-secret';
const secrets = { 'tvm/faults': { client_id: 'faults-client', client_secret: CLIENT_SECRET } };

/** A TCP endpoint that accepts connections and never answers: a hung DynamoDB or Secrets Manager. */
async function startHungEndpoint(): Promise<{
  endpoint: string;
  connections(): number;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Resolves when `count` calls have come in; `arrive` counts one. */
function arrivals(count: number): { arrive: () => void; all: Promise<void> } {
  let seen = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  return {
    arrive: () => {
      seen += 1;
      if (seen === count) done();
    },
    all,
  };
}

/**
 * What the service does when a dependency hangs, fails or answers nonsense: DynamoDB that never answers,
 * Secrets Manager down, providers whose tokens are too short, too long, too large or too slow to arrive.
 */
describe('Dependency faults', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let watched: WatchedTable;
  const log = new RecordingLog();
  const services: TestService[] = [];
  const issued: string[] = [];
  let providerSeq = 0;

  /** A provider entry of its own per test, so no test sees another's tokens. */
  const entry = (overrides: Record<string, unknown> = {}) => {
    providerSeq += 1;
    return {
      id: `faults-${providerSeq}`,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/faults',
      callers: [ORDERS_ROLE],
      allowedScopes: ['a', 'b'],
      defaultScopes: ['a'],
      timeoutMs: 1000,
      ...overrides,
    };
  };

  const start = async (options: Parameters<typeof startTestService>[0]) => {
    const service = await startTestService({ secrets, log, ...options });
    services.push(service);
    return service;
  };

  beforeAll(async () => {
    [provider, table] = await Promise.all([startFakeProvider(), createTestTable()]);
    watched = watchLeaseRefusals(table);
  });

  afterAll(async () => {
    await Promise.all(services.map((service) => service.close()));
    await watched.table.dispose();
    await Promise.all([provider.close(), table.dispose()]);
  });

  describe('a table that accepts connections and never answers', () => {
    it('is bypassed: a cold vend answers 200, concurrent vends make one upstream request, evict answers 503', async () => {
      const hung = await startHungEndpoint();
      const client = dynamoDbClient(hung.endpoint);
      try {
        provider.setBehaviour((_request, index) => grant(`past-hung-table-${index}`));
        const providerEntry = entry();
        const service = await start({ providers: [providerEntry], table: { ...table, client } });
        const before = provider.requests.length;
        // One container, one key, five different min_ttl values: five flights, one lease, one request.
        const responses = await Promise.all(
          Array.from({ length: 20 }, (_, index) =>
            service.vend(providerEntry.id, { min_ttl: 60 + (index % 5) * 10 }),
          ),
        );
        for (const response of responses) assert.equal(response.status, 200, response.text);
        assert.equal(new Set(responses.map((response) => response.json.access_token)).size, 1);
        assert.equal(provider.requests.length - before, 1);
        issued.push(String(responses[0]?.json.access_token));
        assert.ok(hung.connections() > 0, 'the table was tried');

        const timeouts = log
          .entries()
          .filter((line) => line.event === 'cache_table_error' && line.timed_out === true);
        assert.ok(
          timeouts.some((line) => line.operation === 'get'),
          'the timed-out call is named',
        );

        // The evict is the table's to answer: 503 while it is left alone, though this container's copies go.
        const evicted = await service.evict(providerEntry.id);
        assert.equal(evicted.status, 503, evicted.text);
        assert.equal(evicted.json.error, 'service_unavailable');
        assert.ok(Number(evicted.headers.get('retry-after')) >= 1);
        const again = await service.vend(providerEntry.id);
        assert.equal(again.status, 200);
        assert.equal(provider.requests.length - before, 2, 'this container no longer serves the named token');
        issued.push(String(again.json.access_token));
      } finally {
        client.destroy();
        await hung.close();
      }
    }, 20_000);
  });

  describe('Secrets Manager unavailable', () => {
    let secretsManager: SecretsManagerEndpoint;
    let client: SecretsManagerClient;

    beforeAll(async () => {
      secretsManager = await startSecretsManagerEndpoint();
      secretsManager.setSecret('tvm/faults', JSON.stringify(secrets['tvm/faults']));
      client = secretsManagerClient(secretsManager);
    });

    afterAll(async () => {
      client.destroy();
      await secretsManager.close();
    });

    // maxAge 0: every read of the secret goes to Secrets Manager, as after the container's cache expired.
    const fromSecretsManager = () =>
      new SecretsManagerCredentialSource({ client, maxAgeSeconds: 0, timeoutMs: 500 });

    it('serves cached tokens and misses with the last good secret; a container that never read it answers 503', async () => {
      secretsManager.setOutage('none');
      provider.setBehaviour((_request, index) => grant(`through-outage-${index}`));
      const providerEntry = entry();
      const warm = await start({ providers: [providerEntry], credentials: fromSecretsManager(), table });
      const first = await warm.vend(providerEntry.id, { scope: 'a' });
      assert.equal(first.status, 200, first.text);
      issued.push(String(first.json.access_token));

      for (const outage of ['error', 'hang'] as const) {
        secretsManager.setOutage(outage);
        const hit = await warm.vend(providerEntry.id, { scope: 'a' });
        assert.equal(hit.status, 200, hit.text);
        assert.equal(hit.json.access_token, first.json.access_token);
        const before = provider.requests.length;
        const miss = await warm.vend(providerEntry.id, { scope: 'b', min_ttl: outage === 'error' ? 1 : 2 });
        assert.equal(miss.status, 200, miss.text);
        issued.push(String(miss.json.access_token));
        await warm.evict(providerEntry.id, { scope: 'b' });
        assert.ok(provider.requests.length > before, 'the miss went upstream with the last good secret');

        const cold = await start({ providers: [providerEntry], credentials: fromSecretsManager(), table });
        const refused = await cold.vend(providerEntry.id, { scope: 'b' });
        assert.equal(refused.status, 503, refused.text);
        assert.equal(refused.json.error, 'service_unavailable');
        assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      }
      assert.ok(log.entries().some((line) => line.event === 'secret_refresh_failed'));
      assert.ok(log.entries().some((line) => line.event === 'secret_store_unavailable'));
    });

    it('still answers 500 for a secret that is missing', async () => {
      secretsManager.setOutage('none');
      const providerEntry = entry({ secretId: 'tvm/not-there' });
      const service = await start({ providers: [providerEntry], credentials: fromSecretsManager() });
      const response = await service.vend(providerEntry.id);
      assert.equal(response.status, 500);
      assert.equal(response.json.error, 'internal_error');
    });
  });

  describe('min_ttl longer than the provider issues', () => {
    it('asks the provider once, then refuses later calls from what it learnt', async () => {
      provider.setBehaviour((_request, index) => grant(`hour-token-${index}`, { expires_in: 3600 }));
      const providerEntry = entry();
      const service = await start({ providers: [providerEntry], table });
      const before = provider.requests.length;
      for (let call = 0; call < 10; call++) {
        const response = await service.vend(providerEntry.id, { min_ttl: 4000 });
        assert.equal(response.status, 400);
        assert.match(String(response.json.message), /min_ttl 4000 cannot be met: .* valid for 3600 s/);
      }
      assert.equal(provider.requests.length - before, 1);
    });

    it('makes one upstream request for concurrent callers with many different min_ttl values', async () => {
      const providerEntry = entry();
      const service = await start({ providers: [providerEntry], table });
      const calls = arrivals(40);
      provider.setBehaviour(async (_request, index) => {
        await calls.all;
        return grant(`many-min-ttl-${index}`, { expires_in: 3600 });
      });
      const before = provider.requests.length;
      const minTtls = Array.from({ length: 40 }, (_, index) => 100 + index * 100); // 100 … 4000
      const responses = await Promise.all(
        minTtls.map((minTtl) => {
          calls.arrive();
          return service.vend(providerEntry.id, { min_ttl: minTtl });
        }),
      );
      assert.equal(provider.requests.length - before, 1);
      responses.forEach((response, index) => {
        assert.equal(response.status, (minTtls[index] ?? 0) < 3600 ? 200 : 400, `min_ttl ${minTtls[index]}`);
      });
      issued.push(String(responses[0]?.json.access_token));
    });
  });

  describe('tokens too short to be of use', () => {
    it('refuses a 1-second token as the provider fault it is, naming the lifetime', async () => {
      provider.setBehaviour(() => grant('one-second-token', { expires_in: 1 }));
      const providerEntry = entry();
      const service = await start({ providers: [providerEntry] });
      for (const body of [undefined, { min_ttl: 0 }]) {
        const response = await service.vend(providerEntry.id, body);
        assert.equal(response.status, 502, response.text);
        assert.equal(response.json.error, 'upstream_invalid_response');
        assert.match(String(response.json.message), /valid for 1 s/);
      }
    });

    it('gives every instance waiting on the lease the holder token, however short: one upstream request', async () => {
      const providerEntry = entry();
      const calls = arrivals(60);
      const { instances } = await startInstances(15, {
        secrets,
        log,
        providers: [providerEntry],
        table: watched.table,
        onRequest: calls.arrive,
      });
      services.push(...instances);
      // Eight seconds: too short to cache for anyone who comes later, long enough for those who asked.
      const allWaiting = watched.refused(watched.refusals() + instances.length - 1);
      provider.setBehaviour(async (_request, index) => {
        await Promise.all([calls.all, allWaiting]);
        return grant(`eight-seconds-${index}`, { expires_in: 8 });
      });
      const before = provider.requests.length;
      const responses = await Promise.all(
        Array.from({ length: 60 }, (_, index) => instances[index % instances.length]?.vend(providerEntry.id)),
      );
      assert.equal(provider.requests.length - before, 1);
      for (const response of responses) {
        assert.equal(response?.status, 200, response?.text);
        assert.ok(Number(response?.json.expires_in) >= 1);
      }
      assert.equal(new Set(responses.map((response) => response?.json.access_token)).size, 1);
      issued.push(String(responses[0]?.json.access_token));
    });
  });

  describe('provider bodies', () => {
    it('refuses a body that declares itself too large, unread', async () => {
      let sent = 0;
      provider.enqueue({
        raw: (response) => {
          response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 ** 30) });
          response.write('{"access_token":"');
          sent += 17;
        },
      });
      const service = await start({ providers: [entry({ maxAttempts: 1 })] });
      const response = await service.vend(`faults-${providerSeq}`);
      assert.equal(response.status, 502);
      assert.equal(response.json.error, 'upstream_invalid_response');
      assert.match(String(response.json.message), /larger than 65536 bytes/);
      assert.equal(sent, 17);
    });

    it('stops reading a body that goes on and on, long before it ends', async () => {
      const offered = 64 * 2 ** 20;
      let written = 0;
      provider.enqueue({
        raw: async (response) => {
          response.writeHead(200, { 'content-type': 'application/json' });
          const chunk = Buffer.alloc(64 * 1024, 'a');
          let closed = false;
          response.once('close', () => {
            closed = true;
            response.emit('drain');
          });
          while (written < offered && !closed) {
            written += chunk.length;
            if (!response.write(chunk)) await new Promise((resolve) => response.once('drain', resolve));
          }
          response.end();
        },
      });
      const service = await start({ providers: [entry({ maxAttempts: 1, timeoutMs: 5000 })] });
      const response = await service.vend(`faults-${providerSeq}`);
      assert.equal(response.status, 502);
      assert.equal(response.json.error, 'upstream_invalid_response');
      assert.ok(written < 16 * 2 ** 20, `${written} bytes were taken of ${offered}`);
    });

    it('reports a body that trickles in past the timeout as upstream_timeout, counted towards backoff', async () => {
      provider.setBehaviour(() => ({
        raw: async (response) => {
          response.writeHead(200, { 'content-type': 'application/json' });
          for (const byte of '{"access_token":"slow","token_type":"Bearer","expires_in":3600}') {
            if (response.destroyed) return;
            response.write(byte);
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          response.end();
        },
      }));
      const service = await start({ providers: [entry({ maxAttempts: 1, timeoutMs: 500 })] });
      const response = await service.vend(`faults-${providerSeq}`);
      assert.equal(response.status, 504, response.text);
      assert.equal(response.json.error, 'upstream_timeout');
    });
  });

  describe('token lifetimes', () => {
    const jwt = (claims: Record<string, unknown>) =>
      [{ alg: 'RS256', typ: 'JWT' }, claims]
        .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
        .concat('signature')
        .join('.');

    it("applies the lifetime ceiling to a JWT's exp, and the provider's own lower ceiling", async () => {
      const nowSeconds = Math.floor(Date.now() / 1000);
      const fiftyYears = jwt({ exp: nowSeconds + 50 * 365 * 86_400, jti: 'fifty' });
      provider.setBehaviour(() => ({
        status: 200,
        body: { access_token: fiftyYears, token_type: 'Bearer' },
      }));
      const refused = await (await start({ providers: [entry()] })).vend(`faults-${providerSeq}`);
      assert.equal(refused.status, 502);
      assert.equal(refused.json.error, 'upstream_invalid_response');

      const oneDay = jwt({ exp: nowSeconds + 86_400, jti: 'day' });
      provider.setBehaviour(() => ({ status: 200, body: { access_token: oneDay, token_type: 'Bearer' } }));
      const capped = await (await start({ providers: [entry({ maxTokenLifetimeSeconds: 600 })] })).vend(
        `faults-${providerSeq}`,
      );
      assert.equal(capped.status, 200, capped.text);
      assert.ok(Number(capped.json.expires_in) <= 600, `expires_in ${capped.json.expires_in}`);
      issued.push(oneDay, fiftyYears);
    });
  });

  describe('a flapping provider', () => {
    it('answers only 200 or 503 with Retry-After while the provider alternates failure and success', async () => {
      provider.setBehaviour((_request, index) =>
        index % 2 === 0
          ? { status: 503, body: { error: 'temporarily_unavailable' } }
          : grant(`flapping-${index}`, { expires_in: 300 }),
      );
      const providerEntry = entry({ maxAttempts: 1 });
      const service = await start({ providers: [providerEntry], table });
      const statuses: number[] = [];
      for (let round = 0; round < 12; round++) {
        const response = await service.vend(providerEntry.id);
        statuses.push(response.status);
        if (response.status === 200) {
          issued.push(String(response.json.access_token));
          await service.evict(providerEntry.id);
        } else {
          assert.equal(response.json.error, 'upstream_unavailable');
        }
      }
      assert.ok(
        statuses.every((status) => status === 200 || status === 503),
        statuses.join(','),
      );
      assert.ok(statuses.includes(200) && statuses.includes(503), statuses.join(','));
    });
  });

  it('logs no client secret or token, whatever failed', () => {
    assertNothingSensitive(log.lines, [CLIENT_SECRET, ...issued]);
  });
});
