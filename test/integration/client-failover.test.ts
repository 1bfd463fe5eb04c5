import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEMO_CALLER } from '../../local/local-config';
import { type LocalService, startLocalService } from '../../local/local-service';
import { TvmClient, TvmError } from '../../packages/client/src';
import { runCli } from '../../packages/client/src/cli/tvm';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';

/** The local run's demo caller (no callers file): what `npm start` accepts. */
const DEMO = { accessKeyId: DEMO_CALLER.accessKeyId, secretAccessKey: DEMO_CALLER.secretAccessKey };

/** One region: a local run signing-checked for its own region, on a table of its own, restartable. */
interface Region {
  readonly name: string;
  readonly table: TestTable;
  local: LocalService;
  log: RecordingLog;
  port: number;
  readonly url: string;
}

const requestsSeen = (region: Region) =>
  region.log.entries().filter((entry) => entry.message === 'request').length;

async function startRegion(
  name: string,
  table: TestTable,
  port = 0,
): Promise<Omit<Region, 'name' | 'table'>> {
  const log = new RecordingLog();
  const local = await startLocalService(
    { port, dynamoDbEndpoint: table.endpoint, tableName: table.tableName, region: name },
    log,
  );
  return { local, log, port: Number(new URL(local.gateway.url).port), url: local.gateway.url };
}

/**
 * Failover between two local runs, each its own "region" (the gateway checks the signing region, so each is
 * signed for its own), each on its own table in the suite's DynamoDB Local.
 */
describe('Class: TvmClient with several endpoints', () => {
  let primary: Region;
  let secondary: Region;
  let clock = Date.now();

  const restartPrimary = async () => {
    Object.assign(primary, await startRegion(primary.name, primary.table, primary.port));
  };

  const client = (overrides: Partial<ConstructorParameters<typeof TvmClient>[0]> = {}) =>
    new TvmClient({
      endpoints: [
        { url: primary.url, region: primary.name },
        { url: secondary.url, region: secondary.name },
      ],
      credentials: DEMO,
      now: () => clock,
      timeoutMs: 2000,
      ...overrides,
    });

  beforeAll(async () => {
    const [primaryTable, secondaryTable] = await Promise.all([createTestTable(), createTestTable()]);
    primary = { name: 'eu-north-1', table: primaryTable, ...(await startRegion('eu-north-1', primaryTable)) };
    secondary = {
      name: 'eu-west-1',
      table: secondaryTable,
      ...(await startRegion('eu-west-1', secondaryTable)),
    };
  });

  afterAll(async () => {
    await Promise.all([primary.local.stop(), secondary.local.stop()]);
    await Promise.all([primary.table.dispose(), secondary.table.dispose()]);
  });

  it('serves every vend of a stream when the primary stops in the middle, the extra latency under the timeout', async () => {
    const tvm = client();
    const durations: number[] = [];
    for (let vend = 0; vend < 12; vend++) {
      if (vend === 6) await primary.local.stop();
      const started = performance.now();
      const { token } = await tvm.vend('demo');
      durations.push(performance.now() - started);
      assert.ok(token.accessToken.length > 0);
    }
    assert.equal(requestsSeen(primary), 6, 'the first six went to the primary');
    assert.equal(requestsSeen(secondary), 6, 'the other six to the secondary');
    const steady = [...durations.slice(1, 6)].sort((a, b) => a - b)[2] ?? 0;
    const extraMs = (durations[6] ?? 0) - steady;
    // docs/performance.md, "Client failover", records this figure from one run.
    assert.ok(extraMs < 2000, `the first vend after the failure took ${extraMs} ms more than the median`);
    await restartPrimary();
  });

  it('passes over a failed endpoint for its memory window, then goes back to the primary', async () => {
    const tvm = client({ failedEndpointMemoryMs: 30_000 });
    await primary.local.stop();
    await tvm.vend('demo');
    const secondaryBefore = requestsSeen(secondary);
    await restartPrimary();

    clock += 29_000;
    await tvm.vend('demo');
    assert.equal(requestsSeen(primary), 0, 'the primary is not tried inside the window');
    assert.equal(requestsSeen(secondary), secondaryBefore + 1);

    clock += 2_000;
    await tvm.vend('demo');
    await tvm.vend('demo');
    assert.equal(requestsSeen(primary), 2, 'back on the primary once the window passed and it answers');
    assert.equal(requestsSeen(secondary), secondaryBefore + 1);
  });

  it('does not fail over on a 4xx: the other region would refuse the same', async () => {
    const before = requestsSeen(secondary);
    await assert.rejects(client().vend('no-such-provider'), (error: unknown) => {
      assert.ok(error instanceof TvmError);
      assert.equal(error.code, 'access_denied');
      return true;
    });
    assert.equal(requestsSeen(secondary), before);
  });

  it('tvm takes the list: --endpoint repeated, or TVM_ENDPOINTS', async () => {
    await primary.local.stop();
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: DEMO.accessKeyId,
      AWS_SECRET_ACCESS_KEY: DEMO.secretAccessKey,
      AWS_REGION: 'eu-west-1',
    });
    try {
      for (const [args, env] of [
        [['--endpoint', primary.url, '--endpoint', secondary.url], {}],
        [[], { TVM_ENDPOINTS: `${primary.url}, ${secondary.url}`, TVM_ENDPOINT: 'http://ignored.invalid' }],
      ] as const) {
        const out: string[] = [];
        const err: string[] = [];
        const code = await runCli(['vend', 'demo', '--raw', '--region', 'eu-west-1', ...args], {
          stdout: (text) => out.push(text),
          stderr: (text) => err.push(text),
          env,
        });
        assert.equal(code, 0, err.join(''));
        assert.ok((out[0] ?? '').trim().length > 0);
      }
    } finally {
      process.env = saved;
      await restartPrimary();
    }
  });
});

/** Which answers send a call to the next region, played by loopback servers that count what reaches them. */
describe('Class: TvmClient, which failures fail over', () => {
  let servers: Server[];
  let primaryUrl: string;
  let secondaryUrl: string;
  let answer: (response: ServerResponse) => void = (response) => response.end();
  let primaryHits = 0;
  let secondaryHits = 0;

  const listen = async (onRequest: (response: ServerResponse) => void) => {
    const server = createServer((_request, response) => onRequest(response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return server;
  };
  const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  beforeAll(async () => {
    servers = [
      await listen((response) => {
        primaryHits += 1;
        answer(response);
      }),
      await listen((response) => {
        secondaryHits += 1;
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"providers":[]}');
      }),
    ];
    [primaryUrl, secondaryUrl] = servers.map(urlOf) as [string, string];
  });

  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  const client = (timeoutMs = 2000) =>
    new TvmClient({
      endpoints: [primaryUrl, secondaryUrl],
      region: 'us-east-1',
      credentials: DEMO,
      maxAttempts: 1,
      timeoutMs,
    });

  const json = (status: number, body: string) => (response: ServerResponse) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(body);
  };

  it.each([
    ['internal_error', json(500, '{"error":"internal_error","message":"x","request_id":"r"}')],
    ['service_unavailable', json(503, '{"error":"service_unavailable","message":"x","request_id":"r"}')],
    [
      'a gateway 502 in HTML',
      (r: ServerResponse) => r.writeHead(502, { 'content-type': 'text/html' }).end('<html/>'),
    ],
    ['a gateway 504 without an error code', json(504, '{"message":"Endpoint request timed out"}')],
  ])('fails over on %s', async (_name, reply) => {
    answer = reply;
    const [before, beforeSecondary] = [primaryHits, secondaryHits];
    assert.deepEqual(await client().listProviders(), []);
    assert.equal(primaryHits - before, 1);
    assert.equal(secondaryHits - beforeSecondary, 1);
  });

  it.each([
    ['access_denied', 403, json(403, '{"error":"access_denied","message":"x","request_id":"r"}')],
    ['throttled', 429, json(429, '{"error":"throttled","message":"x","request_id":"r"}')],
    ['upstream_rejected', 502, json(502, '{"error":"upstream_rejected","message":"x","request_id":"r"}')],
    [
      'upstream_unavailable',
      503,
      json(503, '{"error":"upstream_unavailable","message":"x","request_id":"r"}'),
    ],
    ['upstream_timeout', 504, json(504, '{"error":"upstream_timeout","message":"x","request_id":"r"}')],
  ])('does not fail over on %s', async (code, status, reply) => {
    answer = reply;
    const before = secondaryHits;
    await assert.rejects(client().listProviders(), (error: unknown) => {
      assert.ok(error instanceof TvmError);
      assert.equal(error.code, code);
      assert.equal(error.status, status);
      return true;
    });
    assert.equal(secondaryHits, before);
  });

  it('fails over on a primary that takes no longer than the timeout to say nothing', async () => {
    answer = () => undefined; // holds the request open
    const started = performance.now();
    assert.deepEqual(await client(300).listProviders(), []);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 300 + 1500, `took ${elapsed} ms`);
  });

  it('names a timeout from the only endpoint `timeout`', async () => {
    answer = () => undefined;
    const only = new TvmClient({
      endpoint: primaryUrl,
      region: 'us-east-1',
      credentials: DEMO,
      timeoutMs: 200,
    });
    await assert.rejects(only.listProviders(), (error: unknown) => {
      assert.ok(error instanceof TvmError);
      assert.equal(error.code, 'timeout');
      assert.match(error.message, /within 200 ms/);
      return true;
    });
  });

  it('signs each endpoint for the region in its execute-api host name, not AWS_REGION', async () => {
    const previous = process.env.AWS_REGION;
    process.env.AWS_REGION = 'us-east-1';
    try {
      const signedFor: string[] = [];
      const regional = new TvmClient({
        endpoints: [
          'https://a1.execute-api.eu-north-1.amazonaws.com/live',
          'https://b2.execute-api.eu-west-1.amazonaws.com/live',
        ],
        credentials: DEMO,
        // Fetch stand-in: no execute-api host resolves here. The first region is unreachable.
        fetch: async (url, init) => {
          signedFor.push(
            /\/([a-z0-9-]+)\/execute-api\//.exec(
              String(new Headers(init?.headers).get('authorization')),
            )?.[1] ?? '',
          );
          if (String(url).includes('eu-north-1'))
            throw new TypeError('fetch failed', { cause: { code: 'ENOTFOUND' } });
          return new Response('{"providers":[]}', { status: 200 });
        },
      });
      assert.deepEqual(await regional.listProviders(), []);
      assert.deepEqual(signedFor, ['eu-north-1', 'eu-west-1']);
    } finally {
      if (previous === undefined) delete process.env.AWS_REGION;
      else process.env.AWS_REGION = previous;
    }
  });

  it('takes exactly one of endpoint and endpoints, and not an empty list', () => {
    assert.throws(() => new TvmClient({ credentials: DEMO }), /exactly one of `endpoint` and `endpoints`/);
    assert.throws(
      () => new TvmClient({ endpoint: primaryUrl, endpoints: [secondaryUrl], credentials: DEMO }),
      /exactly one/,
    );
    assert.throws(() => new TvmClient({ endpoints: [], credentials: DEMO }), /is empty/);
  });
});
