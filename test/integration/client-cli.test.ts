import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheKey } from '../../lambda/cache/cache-key';
import { type LocalService, startLocalService } from '../../local/local-service';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { TvmClient, TvmError } from '../../packages/client/src';
import { createTestTable, seedToken, type TestTable } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

const CALLER = {
  accessKeyId: 'AKIACLIENTTEST000001',
  secretAccessKey: 'client-test-secret-key',
  principalArn: 'arn:aws:sts::111122223333:assumed-role/orders-service/task-1',
};
const ROLE = 'arn:aws:iam::111122223333:role/orders-service';

/**
 * The TypeScript client and the `tvm` CLI against the local run (startLocalService: the SigV4 gateway, the
 * handler, DynamoDB Local), signing with real SigV4 from AWS credentials.
 */
describe('Client and CLI against the local run', () => {
  let table: TestTable;
  let provider: FakeProvider;
  let failing: FakeProvider;
  let local: LocalService;
  let endpoint: string;
  let thirdPartyApi: Server;
  let apiUrl: string;
  const apiSeen: string[] = [];

  const client = (overrides: Partial<ConstructorParameters<typeof TvmClient>[0]> = {}) =>
    new TvmClient({ endpoint, region: 'us-east-1', credentials: CALLER, ...overrides });

  /** A token the local run's table holds for `partner` with one scope, as another container left it. */
  const seedPartner = (scope: string, token: string, times: { ageSeconds: number; leftSeconds: number }) =>
    seedToken(
      table,
      cacheKey({
        providerId: 'partner',
        tokenEndpoint: provider.tokenEndpoint,
        clientId: 'c',
        scopes: [scope],
      }),
      token,
      times,
    );

  beforeAll(async () => {
    [table, provider, failing] = await Promise.all([
      createTestTable(),
      startFakeProvider(),
      startFakeProvider(),
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'tvm-client-'));
    const entry = (id: string, tokenEndpoint: string, extra: Record<string, unknown> = {}) => ({
      id,
      tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'client-test/secret',
      allowedScopes: ['read', 'write', 'audit', 'evictable'],
      defaultScopes: ['read'],
      callers: [ROLE],
      maxAttempts: 1,
      timeoutMs: 400,
      ...extra,
    });
    writeFileSync(
      join(dir, 'providers.json'),
      JSON.stringify({
        providers: [
          entry('partner', provider.tokenEndpoint),
          entry('failing', failing.tokenEndpoint),
          entry('unconfigured', provider.tokenEndpoint, { secretId: 'nowhere' }),
        ],
      }),
    );
    writeFileSync(
      join(dir, 'secrets.json'),
      JSON.stringify({ 'client-test/secret': { client_id: 'c', client_secret: 's3cret' } }),
    );
    writeFileSync(join(dir, 'callers.json'), JSON.stringify([CALLER]));
    local = await startLocalService(
      {
        port: 0,
        providersFile: join(dir, 'providers.json'),
        secretsFile: join(dir, 'secrets.json'),
        callersFile: join(dir, 'callers.json'),
        dynamoDbEndpoint: table.endpoint,
        tableName: table.tableName,
      },
      new RecordingLog(),
    );
    endpoint = local.gateway.url;

    // A third-party API that rejects the first token it sees, as an API does after revoking a token.
    thirdPartyApi = createServer((request, response) => {
      const token = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
      apiSeen.push(token);
      response.writeHead(apiSeen.indexOf(token) === 0 ? 401 : 200, { 'content-type': 'application/json' });
      response.end('{}');
    });
    await new Promise<void>((resolve) => thirdPartyApi.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(thirdPartyApi.address() as AddressInfo).port}/resource`;
  });

  afterAll(async () => {
    thirdPartyApi.close();
    await local.stop();
    await Promise.all([provider.close(), failing.close(), table.dispose()]);
  });

  describe('Class: TvmClient', () => {
    it('vends, then serves from its own cache, and coalesces concurrent calls', async () => {
      let calls = 0;
      const counting: typeof fetch = (input, init) => {
        calls += 1;
        return fetch(input, init);
      };
      const tvm = client({ fetch: counting });
      const tokens = await Promise.all(
        Array.from({ length: 20 }, () => tvm.getToken('partner', { scope: 'write read' })),
      );
      assert.equal(new Set(tokens.map((token) => token.accessToken)).size, 1);
      assert.equal(calls, 1);
      const again = await tvm.getToken('partner', { scope: ['read', 'write'] });
      assert.equal(again.accessToken, tokens[0]?.accessToken);
      assert.equal(calls, 1, 'scope order does not matter to the client cache either');
      assert.equal(again.tokenType, 'Bearer');
      assert.ok(again.expiresAt.getTime() > Date.now() + 3000 * 1000);
    });

    it('calls again when the cached token nears expiry or minTtl asks for more', async () => {
      let clock = Date.now();
      let calls = 0;
      const tvm = client({
        now: () => clock,
        fetch: (input, init) => {
          calls += 1;
          return fetch(input, init);
        },
      });
      await tvm.getToken('partner');
      await tvm.getToken('partner', { minTtl: 600 });
      assert.equal(calls, 1);
      clock += 3560 * 1000;
      await tvm.getToken('partner');
      assert.equal(calls, 2);
    });

    it('does not let a caller with a longer minTtl join a call that asks for less', async () => {
      // The service holds a token with 1000 s left; a fresh one lasts 3600 s.
      await seedPartner('write', 'seeded-thousand-seconds', { ageSeconds: 2600, leftSeconds: 1000 });
      const tvm = client();
      // Issued together: the second is made while the first is in flight.
      const [short, long] = await Promise.all([
        tvm.getToken('partner', { scope: 'write', minTtl: 100 }),
        tvm.getToken('partner', { scope: 'write', minTtl: 2000 }),
      ]);
      assert.equal(short.accessToken, 'seeded-thousand-seconds');
      assert.ok(
        long.expiresAt.getTime() - Date.now() >= 2000 * 1000,
        `the minTtl 2000 caller got a token with ${long.expiresIn} s left`,
      );
    });

    it('throws typed errors carrying the service code', async () => {
      const cases: Array<[() => Promise<unknown>, string, number]> = [
        [
          () => client({ credentials: { ...CALLER, secretAccessKey: 'wrong' } }).getToken('partner'),
          'access_denied',
          403,
        ],
        [() => client().getToken('nobody'), 'access_denied', 403],
        [() => client().getToken('partner', { scope: 'admin' }), 'access_denied', 403],
        [() => client().getToken('partner', { minTtl: 99_999_999 }), 'invalid_request', 400],
        [() => client().getToken('unconfigured'), 'internal_error', 500],
      ];
      for (const [call, code, status] of cases) {
        await assert.rejects(call(), (error: unknown) => {
          assert.ok(error instanceof TvmError);
          assert.equal(error.code, code);
          assert.equal(error.status, status);
          assert.match(String(error.details.requestId), /^[0-9a-f-]{36}$/);
          return true;
        });
      }
    });

    it('passes on upstream errors by code', async () => {
      const tvm = client({ maxAttempts: 1 });
      const expect = async (
        reply: Parameters<FakeProvider['enqueue']>[0],
        code: string,
        upstreamError?: string,
      ) => {
        failing.enqueue(reply);
        await tvm.evict('failing');
        await assert.rejects(tvm.getToken('failing'), (error: unknown) => {
          assert.ok(error instanceof TvmError);
          assert.equal(error.code, code);
          assert.equal(error.details.upstreamError, upstreamError);
          return true;
        });
      };
      await expect({ status: 401, body: { error: 'invalid_client' } }, 'upstream_rejected', 'invalid_client');
      await expect({ status: 200, body: '<html>maintenance</html>' }, 'upstream_invalid_response');
      await expect({ status: 500, body: { error: 'server_error' } }, 'upstream_unavailable');
      await expect({ hang: true }, 'upstream_timeout');
    });

    it('retries a 503 from the service and then succeeds', async () => {
      failing.enqueue({ status: 502, body: 'Bad Gateway' }, grant('after-retry-token'));
      const tvm = client({ maxAttempts: 3 });
      await tvm.evict('failing');
      const before = failing.requests.length;
      const token = await tvm.getToken('failing');
      assert.equal(token.accessToken, 'after-retry-token');
      assert.equal(failing.requests.length - before, 2);
    });

    it('gives an authorized fetch that evicts the rejected token and retries once on a 401 from the API', async () => {
      // The service holds a token issued 100 s ago: old enough to be evicted when the API rejects it.
      await seedPartner('audit', 'seeded-then-revoked', { ageSeconds: 100, leftSeconds: 3000 });
      const tvm = client();
      const before = provider.requests.length;
      const authorized = tvm.authorizedFetch('partner', { scope: 'audit' }, { origins: [apiUrl] });
      const response = await authorized(apiUrl, { method: 'POST', body: '{"hello":1}' });
      assert.equal(response.status, 200);
      assert.equal(apiSeen.length, 2);
      assert.equal(apiSeen[0], 'seeded-then-revoked');
      assert.notEqual(apiSeen[1], apiSeen[0], 'the retry carried a new token');
      assert.equal(provider.requests.length - before, 1, 'the rejected token was evicted in the service too');

      // A token just issued is not evicted: the API's 401 is returned, not retried with the same token.
      const rejecting = client();
      const fresh = rejecting.authorizedFetch('partner', { scope: 'write read' }, { origins: [apiUrl] });
      const seenBefore = apiSeen.length;
      apiSeen.length = 0;
      const refused = await fresh(apiUrl, { method: 'GET' });
      assert.equal(refused.status, 401);
      assert.equal(apiSeen.length, 1, 'no retry with the token the API had just rejected');
      assert.ok(seenBefore > 0);
    });

    it('evicts the token it holds when none is named, and asks the service nothing when it holds none', async () => {
      await seedPartner('evictable', 'held-by-the-client', { ageSeconds: 100, leftSeconds: 3000 });
      let calls = 0;
      const counting: typeof fetch = (input, init) => {
        calls += 1;
        return fetch(input, init);
      };
      const tvm = client({ fetch: counting });
      assert.equal(await tvm.evict('partner', { scope: 'nothing-held' }), 'not_asked');
      assert.equal(calls, 0, 'nothing to name: no call');
      assert.equal((await tvm.getToken('partner', { scope: 'evictable' })).accessToken, 'held-by-the-client');
      assert.equal(await tvm.evict('partner', { scope: 'evictable' }), 'evicted');
      const renewed = await tvm.getToken('partner', { scope: 'evictable' });
      assert.notEqual(renewed.accessToken, 'held-by-the-client', 'evicted here and in the service');
      assert.equal(calls, 3);
      // A named token is sent with every selector; an audience this provider does not have is refused.
      await assert.rejects(
        tvm.evict('partner', { scope: 'evictable', audience: 'https://elsewhere.example' }, 'any-token'),
        (error: unknown) => error instanceof TvmError && error.code === 'access_denied',
      );
    });

    it('never sends a token to an origin not on the list', async () => {
      const authorized = client().authorizedFetch(
        'partner',
        {},
        { origins: ['https://api.partner.example'] },
      );
      await assert.rejects(authorized(apiUrl), (error: unknown) => {
        assert.ok(error instanceof TvmError);
        assert.equal(error.code, 'origin_not_allowed');
        return true;
      });
    });

    it('lists the providers this caller may vend', async () => {
      const providers = await client().listProviders();
      assert.deepEqual(
        providers.map((entry) => entry.id),
        ['partner', 'failing', 'unconfigured'],
      );
      // Once a token was seen, its lifetime: the ceiling of a min_ttl worth asking for.
      assert.equal(providers.find((entry) => entry.id === 'partner')?.tokenLifetimeSeconds, 3600);
      assert.equal(providers.find((entry) => entry.id === 'unconfigured')?.tokenLifetimeSeconds, undefined);
    });
  });

  describe('CLI: tvm', () => {
    const env = (overrides: Record<string, string> = {}) => ({
      PATH: process.env.PATH ?? '',
      HOME: mkdtempSync(join(tmpdir(), 'tvm-home-')),
      AWS_ACCESS_KEY_ID: CALLER.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CALLER.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      TVM_ENDPOINT: endpoint,
      ...overrides,
    });
    const tvm = async (args: string[], environment = env()) => {
      try {
        const { stdout, stderr } = await run(
          process.execPath,
          [join(ROOT, 'packages', 'client', 'dist', 'tvm.cjs'), ...args],
          {
            env: environment,
          },
        );
        return { code: 0, stdout, stderr };
      } catch (error) {
        const failed = error as { code: number; stdout: string; stderr: string };
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
      }
    };

    // The package's bin runs the built CLI, as an installed package would: `npm test` builds the packages
    // once before the suite (pretest), so no test rebuilds a dist another test is reading.
    it("reports the client package's version, not the service's", async () => {
      const { version } = JSON.parse(readFileSync(join(ROOT, 'packages', 'client', 'package.json'), 'utf8'));
      const service = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
      assert.notEqual(version, service, 'the two versions differ, so the answer tells them apart');
      const answer = await tvm(['--version']);
      assert.equal(answer.stdout.trim(), version);
    });

    it('is importable through the package exports, as services and stacks import it', async () => {
      const { stdout } = await run(
        process.execPath,
        [
          '-e',
          "const c = require('token-vending-client'); const g = require('token-vending-grant-vend');" +
            'console.log(typeof c.TvmClient, typeof c.TvmError, typeof g.grantVend)',
        ],
        { cwd: ROOT },
      );
      assert.equal(stdout.trim(), 'function function function');
    });

    it('vends and prints the JSON answer, or with --raw the bare token', async () => {
      const vended = await tvm(['vend', 'partner', '--scope', 'read', '--scope', 'write', '--min-ttl', '60']);
      assert.equal(vended.code, 0, vended.stderr);
      const body = JSON.parse(vended.stdout) as Record<string, unknown>;
      assert.equal(body.token_type, 'Bearer');
      const raw = await tvm(['vend', 'partner', '--scope', 'write read', '--raw']);
      assert.equal(raw.code, 0, raw.stderr);
      assert.equal(raw.stdout, `${body.access_token}\n`);
    });

    it('checks a deployment: an unsigned call refused, every provider vended, in a table', async () => {
      const result = await tvm(['check']);
      const rows = result.stdout.trim().split('\n');
      assert.match(rows[0] ?? '', /^check\s+status\s+ms\s+result$/);
      assert.match(result.stdout, /unsigned call is refused\s+403\s+\d+\s+refused/);
      assert.match(result.stdout, /providers\s+200\s+\d+\s+3 this caller may vend/);
      assert.match(result.stdout, /vend partner\s+200\s+\d+\s+expires in \d+ s/);
      // This local run has providers that cannot vend: the check says which and why, and fails.
      assert.match(result.stdout, /vend unconfigured\s+500\s+\d+\s+FAILED internal_error/);
      assert.equal(result.code, 1);
      assert.ok(!result.stdout.includes('eyJ'), 'no token is printed');
    });

    it('takes the endpoint from --endpoint, lists providers and evicts', async () => {
      const listed = await tvm(['providers', '--endpoint', endpoint], env({ TVM_ENDPOINT: '' }));
      assert.equal(listed.code, 0, listed.stderr);
      assert.ok((JSON.parse(listed.stdout) as Array<{ id: string }>).some((entry) => entry.id === 'partner'));
      const evicted = await tvm(['evict', 'partner', '--scope', 'read']);
      assert.equal(evicted.code, 0, evicted.stderr);
      assert.match(evicted.stdout, /^(evicted|kept|nothing evicted)[^\n]*\n$/);
    });

    it('says what the service did with an evict: evicted, or kept because the token is too young', async () => {
      await seedPartner('audit', 'old-enough-to-evict', { ageSeconds: 100, leftSeconds: 3000 });
      const first = await tvm(['evict', 'partner', '--scope', 'audit', '--token', 'old-enough-to-evict']);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, 'evicted: the next vend fetches a new token\n');
      const renewed = await tvm(['evict', 'partner', '--scope', 'audit']);
      assert.equal(renewed.code, 0, renewed.stderr);
      assert.equal(renewed.stdout, 'kept: the token was issued under 15 s ago\n');
      const other = await tvm(['evict', 'partner', '--scope', 'audit', '--token', 'never-cached']);
      assert.match(other.stdout, /^kept: the service caches another token/);
    });

    it('fails with exit 1 and one line naming the error code', async () => {
      const cases: Array<[string[], Record<string, string>, RegExp]> = [
        [
          ['vend', 'partner'],
          { AWS_SECRET_ACCESS_KEY: 'wrong' },
          /^tvm: access_denied: The request signature/,
        ],
        [['vend', 'nobody'], {}, /^tvm: access_denied: /],
        [['vend', 'partner', '--scope', 'admin'], {}, /^tvm: access_denied: Scope/],
        // A scope nobody vended from `failing`: the service holds no token for it.
        [['vend', 'failing', '--scope', 'write'], {}, /^tvm: upstream_/],
      ];
      failing.setBehaviour(() => ({ status: 500, body: { error: 'server_error' } }));
      assert.equal((await tvm(['evict', 'failing'])).code, 0);
      for (const [args, overrides, pattern] of cases) {
        const result = await tvm(args, env(overrides));
        assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
        assert.match(result.stderr, pattern);
        assert.equal(result.stdout, '');
      }
    });

    it('explains usage: --help, a missing endpoint, a bad option', async () => {
      const help = await tvm(['--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Usage: tvm <command>/);
      const noEndpoint = await tvm(['vend', 'partner'], env({ TVM_ENDPOINT: '' }));
      assert.equal(noEndpoint.code, 2);
      assert.match(noEndpoint.stderr, /no endpoint: pass --endpoint or set TVM_ENDPOINT/);
      const badOption = await tvm(['vend', 'partner', '--min-ttl', 'soon']);
      assert.equal(badOption.code, 2);
      const unknown = await tvm(['vend', 'partner', '--colour', 'blue']);
      assert.equal(unknown.code, 2);
      assert.equal(unknown.stderr.split('\n')[0], 'tvm: usage: unknown option --colour');
      const noValue = await tvm(['vend', 'partner', '--scope']);
      assert.match(noValue.stderr, /^tvm: usage: --scope needs a value/);
      const rawEvict = await tvm(['evict', 'partner', '--raw']);
      assert.equal(rawEvict.code, 2);
      assert.match(rawEvict.stderr, /evict takes no --raw/);
      const version = await tvm(['--version']);
      assert.equal(version.code, 0);
      assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    });
  });
});
