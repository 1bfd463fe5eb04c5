import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../local/dynamodb-local';
import { type FakeProvider, startFakeProvider } from '../../local/loopback/fake-provider';
import { tokenFingerprint } from '../../packages/client/src/wire-contract';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { isAlive, startLocalProcess } from '../support/local-process';
import { assertNothingSensitive } from '../support/recording-log';

const run = promisify(execFile);

/** Runs the printed command exactly as a person pasting it into bash would. */
async function runPrintedCommand(line: string): Promise<Record<string, unknown>> {
  const { stdout } = await run('bash', ['-c', `${line} --silent --show-error`]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('Local run (npm start)', () => {
  let table: TestTable;
  let provider: FakeProvider;

  beforeAll(async () => {
    [table, provider] = await Promise.all([createTestTable(), startFakeProvider()]);
  });

  afterAll(async () => {
    await Promise.all([table.dispose(), provider.close()]);
  });

  it('with no configuration, starts DynamoDB Local and the demo server, prints a curl line that vends, and stops cleanly on Ctrl-C', async () => {
    const port = await freePort();
    const local = startLocalProcess({ PORT: String(port), TVM_DYNAMODB_ENDPOINT: '' });
    try {
      const line = await local.waitForLine(/^curl --aws-sigv4 /);
      assert.match(line, new RegExp(`http://127\\.0\\.0\\.1:${port}/v1/tokens/demo`));
      const jvm = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(local.child.pid)])
        .toString()
        .split('\n')
        .find((row) => row.includes('DynamoDBLocal.jar'));
      assert.ok(jvm, 'the local run started its own DynamoDB Local');
      const jvmPid = Number(jvm.trim().split(/\s+/)[0]);

      const body = await runPrintedCommand(line);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(typeof body.access_token, 'string');
      assert.equal(
        (await runPrintedCommand(line)).access_token,
        body.access_token,
        'the second call is a cache hit',
      );

      local.child.kill('SIGINT');
      assert.equal(await local.exited(), 0);
      assert.ok(!isAlive(jvmPid), 'no DynamoDB Local JVM is left behind');
      // Powertools' JSON log lines, as the process wrote them.
      const logLines = local
        .stdout()
        .split('\n')
        .filter((row) => row.startsWith('{'));
      assert.ok(logLines.length >= 2);
      assertNothingSensitive(logLines, [String(body.access_token)]);

      // The audit trail: who vended what, and which token, by fingerprint and jti — never the token.
      const entries = logLines.map((row) => JSON.parse(row) as Record<string, unknown>);
      const vend = entries.find((entry) => entry.message === 'request' && entry.cache === 'miss');
      assert.ok(vend, 'a request line for the first vend');
      assert.equal(vend.principal, 'arn:aws:iam::000000000000:role/demo-caller');
      assert.equal(vend.provider, 'demo');
      assert.equal(vend.audience, 'https://api.demo.local');
      assert.equal(vend.scopes, 'demo.read');
      assert.equal(vend.token_fingerprint, tokenFingerprint(String(body.access_token)));
      assert.equal(typeof vend.token_jti, 'string');

      // The metrics, as CloudWatch EMF documents on the same output.
      const emf = entries.filter((entry) => entry._aws !== undefined);
      const metric = (name: string, cache?: string) =>
        emf.find(
          (entry) =>
            entry[name] !== undefined &&
            entry.provider === 'demo' &&
            (cache === undefined || entry.cache === cache),
        ) as Record<string, unknown> & {
          _aws: {
            CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: unknown[] }>;
          };
        };
      const missed = metric('Vends', 'miss');
      assert.ok(missed, `a Vends document for the miss among ${emf.length}`);
      assert.equal(missed.Vends, 1);
      assert.equal(missed._aws.CloudWatchMetrics[0]?.Namespace, 'TokenVending');
      assert.deepEqual(missed._aws.CloudWatchMetrics[0]?.Dimensions[0]?.sort(), [
        'cache',
        'provider',
        'service',
      ]);
      assert.ok(metric('Vends', 'memory'), 'the hit is counted as a memory vend');
      const upstream = metric('UpstreamRequests');
      assert.equal(upstream.UpstreamRequests, 1);
      assert.equal(typeof upstream.UpstreamLatency, 'number');
      assert.equal(upstream.TokensMinted, 1);
      for (const document of emf) {
        const dimensions = document._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> };
        for (const set of dimensions.CloudWatchMetrics.flatMap((entry) => entry.Dimensions)) {
          for (const name of set) assert.ok(['service', 'provider', 'cache', 'code'].includes(name), name);
        }
      }
    } finally {
      local.child.kill('SIGKILL');
    }
  });

  it('honours every variable: providers, secrets, callers, a shared DynamoDB endpoint and table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvm-local-'));
    const files = {
      providers: join(dir, 'providers.json'),
      secrets: join(dir, 'secrets.json'),
      callers: join(dir, 'callers.json'),
    };
    writeFileSync(
      files.providers,
      JSON.stringify({
        providers: [
          {
            id: 'partner',
            tokenEndpoint: provider.tokenEndpoint,
            clientAuth: 'client_secret_post',
            secretId: 'partner/secret',
            callers: ['arn:aws:iam::111122223333:role/local-dev'],
          },
        ],
      }),
    );
    writeFileSync(
      files.secrets,
      JSON.stringify({ 'partner/secret': { client_id: 'c', client_secret: 'local-file-secret' } }),
    );
    writeFileSync(
      files.callers,
      JSON.stringify([
        {
          accessKeyId: 'AKIALOCALDEV00000001',
          secretAccessKey: 'dev-key',
          principalArn: 'arn:aws:iam::111122223333:role/local-dev',
        },
      ]),
    );
    const env = {
      TVM_PROVIDERS: files.providers,
      TVM_SECRETS: files.secrets,
      TVM_CALLERS: files.callers,
      TVM_DYNAMODB_ENDPOINT: table.endpoint,
      TVM_TABLE: `shared-${Date.now()}`,
      // Instances sharing a table share the sealing key; without it each run picks its own.
      TVM_SEALING_KEY: randomBytes(32).toString('base64'),
    };
    const [portA, portB] = [await freePort(), await freePort()];
    const first = startLocalProcess({ ...env, PORT: String(portA) });
    const second = startLocalProcess({ ...env, PORT: String(portB) });
    try {
      const [lineA, lineB] = await Promise.all([
        first.waitForLine(/^curl --aws-sigv4 /),
        second.waitForLine(/^curl --aws-sigv4 /),
      ]);
      assert.match(lineA, /--user 'AKIALOCALDEV00000001:dev-key'/);
      assert.match(lineA, /\/v1\/tokens\/partner'/);
      const before = provider.requests.length;
      const fromA = await runPrintedCommand(lineA);
      const fromB = await runPrintedCommand(lineB);
      assert.equal(
        fromA.access_token,
        fromB.access_token,
        'the second instance reads the first one’s token from the table',
      );
      assert.equal(provider.requests.length, before + 1);
      assert.equal(provider.requests.at(-1)?.params.client_secret, 'local-file-secret');
      assertNothingSensitive([first.stdout(), second.stdout()], ['local-file-secret']);
    } finally {
      first.child.kill('SIGINT');
      second.child.kill('SIGINT');
      await Promise.all([first.exited(), second.exited()]);
    }
  });

  it('warns at start-up about a provider whose secret is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvm-nosecret-'));
    const providers = join(dir, 'providers.json');
    writeFileSync(
      providers,
      JSON.stringify({
        providers: [
          {
            id: 'lonely',
            tokenEndpoint: provider.tokenEndpoint,
            clientAuth: 'client_secret_basic',
            secretId: 'absent',
          },
        ],
      }),
    );
    const local = startLocalProcess({
      PORT: '0',
      TVM_PROVIDERS: providers,
      TVM_DYNAMODB_ENDPOINT: table.endpoint,
    });
    try {
      await local.waitForLine(/^curl --aws-sigv4 /);
      assert.match(
        local.stderr(),
        /Warning: provider lonely cannot vend: secret absent is not in the secrets file/,
      );
    } finally {
      local.child.kill('SIGINT');
      await local.exited();
    }
  });

  it('says so clearly when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const local = startLocalProcess({ PORT: String(port), TVM_DYNAMODB_ENDPOINT: table.endpoint });
      assert.equal(await local.exited(30_000), 1);
      assert.match(local.stderr(), new RegExp(`Port ${port} on 127.0.0.1 is already in use`));
    } finally {
      blocker.close();
    }
  });

  it('says so clearly when Java is missing', async () => {
    const local = startLocalProcess({ PORT: '0', TVM_DYNAMODB_ENDPOINT: '', PATH: '/nonexistent' });
    assert.equal(await local.exited(30_000), 1);
    assert.match(local.stderr(), /Java 17 or newer is needed/);
  });

  it('refuses bad start-up settings in one line, every one at once, with no stack trace', async () => {
    const local = startLocalProcess({
      PORT: '0',
      TVM_REFRESH_INTERVAL_SECONDS: '0',
      TVM_SEALING_KEY: 'not-a-key',
      TVM_DYNAMODB_ENDPOINT: table.endpoint,
    });
    assert.equal(await local.exited(30_000), 1);
    assert.equal(local.stdout(), '');
    assert.equal(local.stderr().trimEnd().split('\n').length, 1, local.stderr());
    assert.doesNotMatch(local.stderr(), /^ {4}at /m);
    assert.match(
      local.stderr(),
      /TVM_REFRESH_INTERVAL_SECONDS must be a whole number of seconds from 1 to 3600/,
    );
    assert.match(local.stderr(), /TVM_SEALING_KEY must be 32 bytes, base64-encoded/);
    assert.doesNotMatch(local.stderr(), /not-a-key/);
  });

  it('says which field is wrong when the providers file is invalid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvm-bad-'));
    const providers = join(dir, 'providers.json');
    writeFileSync(
      providers,
      JSON.stringify({ providers: [{ id: 'Bad Id', tokenEndpoint: 'http://example.com' }] }),
    );
    const local = startLocalProcess({
      PORT: '0',
      TVM_PROVIDERS: providers,
      TVM_DYNAMODB_ENDPOINT: table.endpoint,
    });
    assert.equal(await local.exited(30_000), 1);
    for (const field of [
      'providers["Bad Id"].id',
      'providers["Bad Id"].tokenEndpoint',
      'providers["Bad Id"].clientAuth',
      'providers["Bad Id"].secretId',
    ]) {
      assert.ok(local.stderr().includes(field), `${field} in ${local.stderr()}`);
    }
  });
});
