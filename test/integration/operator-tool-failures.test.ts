import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../local/dynamodb-local';
import { type LocalService, startLocalService } from '../../local/local-service';
import { TvmError } from '../../packages/client/src';
import { failureLine } from '../../packages/client/src/cli/failure-line';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';
import {
  type SecretsManagerEndpoint,
  startSecretsManagerEndpoint,
} from '../support/secrets-manager-endpoint';

const ROOT = join(__dirname, '..', '..');
const STACK_FRAME = /^ {4}at /m;
const TVM_ADMIN = 'packages/construct/bin/tvm-admin.cjs';

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The real command as a child process, with only the environment given (no AWS settings of this machine):
 * TypeScript through tsx, a built bin (`.cjs`) with plain node.
 */
function runTool(script: string, args: string[], env: Record<string, string>): Promise<Outcome> {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...loader, join(ROOT, script), ...args],
      {
        cwd: ROOT,
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: mkdtempSync(join(tmpdir(), 'tvm-operator-home-')),
          AWS_CONFIG_FILE: '/nonexistent/config',
          AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
          AWS_EC2_METADATA_DISABLED: 'true',
          NODE_NO_WARNINGS: '1',
          ...env,
        },
      },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: unknown }).code as number) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Exit 1, nothing on stdout, exactly one line on stderr with the hint, and no stack frame. */
function assertOneLine(outcome: Outcome, hint: RegExp) {
  assert.equal(outcome.code, 1, outcome.stderr);
  assert.equal(outcome.stdout, '');
  assert.equal(outcome.stderr.trimEnd().split('\n').length, 1, outcome.stderr);
  assert.doesNotMatch(outcome.stderr, STACK_FRAME);
  assert.match(outcome.stderr, hint);
}

function assertStackShown(outcome: Outcome, hint: RegExp) {
  assert.equal(outcome.code, 1, outcome.stderr);
  assert.match(outcome.stderr.split('\n')[0] ?? '', hint);
  assert.match(outcome.stderr, STACK_FRAME);
}

/**
 * docs/operations.md "When an operator tool fails": `tvm-admin` (`npm run secret`), synth and `tvm` answer each expected
 * failure in one line naming what to do, exit 1, and print a stack only with --debug.
 */
describe('Operator tools fail in one line', () => {
  // The construct package's bin, as an adopter runs it (the build is the integration project's pretest).
  describe('tvm-admin secret put', () => {
    let secretsManager: SecretsManagerEndpoint;
    let closedPort: number;
    const dir = mkdtempSync(join(tmpdir(), 'tvm-secret-failures-'));
    const providers = join(dir, 'providers.json');
    const secretFile = join(dir, 'secret.json');

    beforeAll(async () => {
      secretsManager = await startSecretsManagerEndpoint();
      closedPort = await freePort();
      writeFileSync(
        providers,
        JSON.stringify({
          providers: [
            {
              id: 'posted',
              tokenEndpoint: 'https://idp.example/token',
              clientAuth: 'client_secret_post',
              secretId: 'tvm/posted',
            },
          ],
        }),
      );
      writeFileSync(secretFile, JSON.stringify({ client_id: 'c', client_secret: 'hunter2-operator' }));
    });

    afterAll(() => secretsManager.close());
    afterEach(() => secretsManager.setRefusal(undefined));

    const signedIn = () => ({
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: secretsManager.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretsManager.credentials.secretAccessKey,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
      // One attempt: the SDK's retries of a throttled call would only slow the test.
      AWS_MAX_ATTEMPTS: '1',
    });
    const put = (env: Record<string, string>, extra: string[] = []) =>
      runTool(
        TVM_ADMIN,
        ['secret', 'put', 'posted', '--file', secretFile, '--providers', providers, ...extra],
        env,
      );

    it('writes the secret when nothing is wrong (the stand-in works)', async () => {
      const outcome = await put(signedIn());
      assert.equal(outcome.code, 0, outcome.stderr);
      assert.equal(secretsManager.secretValue('tvm/posted')?.includes('hunter2-operator'), true);
    });

    it('no region', async () => {
      const { AWS_REGION: _region, ...env } = signedIn();
      assertOneLine(await put(env), /^tvm-admin: no AWS region: set AWS_REGION/);
      assertStackShown(await put(env, ['--debug']), /no AWS region/);
    });

    it('no credentials', async () => {
      const { AWS_ACCESS_KEY_ID: _id, AWS_SECRET_ACCESS_KEY: _key, ...env } = signedIn();
      assertOneLine(await put(env), /^tvm-admin: no AWS credentials: set AWS_PROFILE/);
      assertStackShown(await put(env, ['--debug']), /no AWS credentials/);
    });

    it('endpoint refused or not found', async () => {
      assertOneLine(
        await put({ ...signedIn(), AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${closedPort}` }),
        /^tvm-admin: cannot reach Secrets Manager's endpoint \(ECONNREFUSED\): check the network/,
      );
      assertOneLine(
        await put({ ...signedIn(), AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://secrets.nowhere.invalid' }),
        /^tvm-admin: cannot reach Secrets Manager's endpoint \((ENOTFOUND|EAI_AGAIN)\)/,
      );
    });

    it('access denied, throttled, secret not found, credentials refused', async () => {
      const cases: Array<[number, string, RegExp]> = [
        [
          400,
          'AccessDeniedException',
          /^tvm-admin: access denied to Secrets Manager on secret tvm\/posted: use credentials whose role is allowed secretsmanager:PutSecretValue/,
        ],
        [403, 'Forbidden', /^tvm-admin: access denied to Secrets Manager/],
        [400, 'ThrottlingException', /^tvm-admin: throttled by Secrets Manager: wait a few seconds/],
        [429, 'TooManyRequests', /^tvm-admin: throttled by Secrets Manager/],
        [
          400,
          'ResourceNotFoundException',
          /^tvm-admin: secret tvm\/posted does not exist in this account and region: deploy the stack first/,
        ],
        [400, 'UnrecognizedClientException', /^tvm-admin: AWS refused the credentials/],
      ];
      for (const [status, type, hint] of cases) {
        secretsManager.setRefusal({ status, type, message: `${type} from the stand-in` });
        const outcome = await put(signedIn());
        assertOneLine(outcome, hint);
        assert.doesNotMatch(outcome.stderr, /hunter2/);
      }
    });

    it('anything unexpected: one line pointing at --debug, and the stack with it', async () => {
      secretsManager.setRefusal({ status: 500, type: 'InternalServiceError', message: 'broken stand-in' });
      assertOneLine(
        await put(signedIn()),
        /^tvm-admin: unexpected InternalServiceError: broken stand-in; run again with --debug for details$/m,
      );
      assertStackShown(await put(signedIn(), ['--debug']), /unexpected InternalServiceError/);
    });

    it('--help prints the usage alone, on stdout, exit 0; a usage error is one line, exit 2', async () => {
      for (const [script, args] of [
        [TVM_ADMIN, ['--help']],
        [TVM_ADMIN, ['secret', 'put', '--help']],
        ['scripts/secret.ts', ['--help']],
      ] as const) {
        const help = await runTool(script, [...args], {});
        assert.equal(help.code, 0, help.stderr);
        assert.equal(help.stderr, '');
        assert.match(help.stdout, /^Usage: tvm-admin secret check <provider>/);
      }
      const usage = await runTool(TVM_ADMIN, ['secret', 'put', 'posted', '--providers', providers], {});
      assert.equal(usage.code, 2);
      assert.equal(usage.stdout, '');
      assert.equal(
        usage.stderr,
        'tvm-admin: usage: --file <secret.json> is required (see tvm-admin --help)\n',
      );
    });

    it('a providers file that is not valid: one line, no stack', async () => {
      const broken = join(dir, 'broken.json');
      writeFileSync(broken, '{"providers": [');
      const outcome = await runTool(
        TVM_ADMIN,
        ['secret', 'put', 'posted', '--file', secretFile, '--providers', broken],
        signedIn(),
      );
      assertOneLine(outcome, /^tvm-admin: providers file .* is not valid JSON$/m);
    });
  });

  describe('tvm-admin public-key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvm-public-key-failures-'));
    const providers = join(dir, 'providers.json');
    writeFileSync(
      providers,
      JSON.stringify({
        providers: [
          {
            id: 'signed',
            tokenEndpoint: 'https://idp.example/token',
            clientAuth: 'private_key_jwt',
            secretId: 'tvm/signed',
            signingKey: { kms: 'create', algorithm: 'ES256' },
          },
        ],
      }),
    );

    it('no region: says so, not that the key is unavailable', async () => {
      const outcome = await runTool(
        TVM_ADMIN,
        ['public-key', 'signed', '--env', 'production', '--providers', providers],
        { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'example', AWS_MAX_ATTEMPTS: '1' },
      );
      assertOneLine(outcome, /^tvm-admin: provider signed: no AWS region: set AWS_REGION/);
    });
  });

  describe('synth (the app cdk runs)', () => {
    const synth = (context: Record<string, string>, env: Record<string, string> = {}) =>
      runTool('infra/app.ts', [], {
        CDK_CONTEXT_JSON: JSON.stringify(context),
        CDK_OUTDIR: mkdtempSync(join(tmpdir(), 'tvm-synth-out-')),
        ...env,
      });

    it('a settings error: once, no stack; with cdk --debug (CDK_DEBUG) the stack', async () => {
      const context = { env: 'production', egress: 'fixed' };
      assertOneLine(await synth(context), /production deploys from its settings alone: -c egress refused/);
      assertStackShown(await synth(context, { CDK_DEBUG: 'true' }), /-c egress refused/);
    });

    it('anything unexpected (a cloud assembly it cannot write): one line pointing at --debug', async () => {
      const outcome = await runTool('infra/app.ts', [], {
        CDK_CONTEXT_JSON: JSON.stringify({ env: 'sandbox', 'aws:cdk:bundling-stacks': [] }),
        CDK_OUTDIR: '/dev/null/cdk.out',
      });
      assertOneLine(outcome, /^synth: unexpected \w+: .*; run again with --debug for details$/m);
    });
  });

  describe('tvm, against a local run', () => {
    let table: TestTable;
    let local: LocalService;
    let throttling: Server;
    let throttlingUrl: string;
    let closedPort: number;
    const caller = {
      accessKeyId: 'AKIAOPERATORTEST0001',
      secretAccessKey: 'operator-test-secret-key',
      principalArn: 'arn:aws:iam::111122223333:role/operator',
    };

    beforeAll(async () => {
      table = await createTestTable();
      const dir = mkdtempSync(join(tmpdir(), 'tvm-operator-'));
      writeFileSync(join(dir, 'callers.json'), JSON.stringify([caller]));
      writeFileSync(
        join(dir, 'providers.json'),
        JSON.stringify({
          providers: [
            {
              id: 'partner',
              tokenEndpoint: 'http://127.0.0.1:9/token',
              clientAuth: 'client_secret_post',
              secretId: 'partner/secret',
              callers: [caller.principalArn],
            },
          ],
        }),
      );
      local = await startLocalService(
        {
          port: 0,
          providersFile: join(dir, 'providers.json'),
          callersFile: join(dir, 'callers.json'),
          dynamoDbEndpoint: table.endpoint,
          tableName: table.tableName,
        },
        new RecordingLog(),
      );
      // The stage throttling no local part reproduces on demand: the service's 429 answer, on loopback.
      throttling = createServer((_request, response) => {
        response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
        response.end(JSON.stringify({ error: 'throttled', message: 'Too many requests.', request_id: 'r1' }));
      });
      await new Promise<void>((resolve) => throttling.listen(0, '127.0.0.1', resolve));
      throttlingUrl = `http://127.0.0.1:${(throttling.address() as AddressInfo).port}`;
      closedPort = await freePort();
    });

    afterAll(async () => {
      throttling.close();
      await local.stop();
      await table.dispose();
    });

    const env = (overrides: Record<string, string> = {}) => ({
      AWS_ACCESS_KEY_ID: caller.accessKeyId,
      AWS_SECRET_ACCESS_KEY: caller.secretAccessKey,
      AWS_REGION: 'us-east-1',
      TVM_ENDPOINT: local.gateway.url,
      ...overrides,
    });
    const tvm = (args: string[], environment: Record<string, string>) =>
      runTool('packages/client/src/cli/main.ts', args, environment);

    it('no credentials', async () => {
      const { AWS_ACCESS_KEY_ID: _id, AWS_SECRET_ACCESS_KEY: _key, ...noKeys } = env();
      assertOneLine(await tvm(['vend', 'partner'], noKeys), /^tvm: no_credentials: .* — set AWS_PROFILE/);
      assertStackShown(await tvm(['vend', 'partner', '--debug'], noKeys), /^tvm: no_credentials/);
    });

    it('endpoint refused', async () => {
      assertOneLine(
        await tvm(['vend', 'partner'], env({ TVM_ENDPOINT: `http://127.0.0.1:${closedPort}` })),
        /^tvm: network_error: Cannot reach .*ECONNREFUSED — check --endpoint \(or TVM_ENDPOINTS, TVM_ENDPOINT\)/,
      );
    });

    it('access denied: a provider this caller may not vend, and a wrong key', async () => {
      assertOneLine(
        await tvm(['vend', 'nobody'], env()),
        /^tvm: access_denied: .* — check the provider id, that this caller's role is in the provider's callers/,
      );
      assertOneLine(
        await tvm(['vend', 'partner'], env({ AWS_SECRET_ACCESS_KEY: 'wrong' })),
        /^tvm: access_denied: The request signature.* — .*--region/,
      );
    });

    it('throttled: retried, then one line saying how long to wait', async () => {
      assertOneLine(
        await tvm(['vend', 'partner'], env({ TVM_ENDPOINT: throttlingUrl })),
        /^tvm: throttled: Too many requests\. — wait 1 s and run again/,
      );
    });

    it('anything unexpected names --debug', () => {
      assert.equal(
        failureLine(new RangeError('Invalid time value\nmore')),
        'tvm: error: Invalid time value — run again with --debug for details',
      );
      assert.match(failureLine(new TvmError('internal_error', 'boom', { requestId: 'r9' })), /request id r9/);
    });
  });
});
