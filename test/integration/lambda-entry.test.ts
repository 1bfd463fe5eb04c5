import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { type FakeProvider, startFakeProvider } from '../../local/loopback/fake-provider';
import { type KmsEndpoint, startKmsEndpoint } from '../../local/loopback/kms-endpoint';
import { proxyEvent } from '../../local/proxy-event';
import { bundleFunction } from '../../scripts/bundle-function';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { assertNothingSensitive } from '../support/recording-log';
import {
  type SecretsManagerEndpoint,
  startSecretsManagerEndpoint,
} from '../support/secrets-manager-endpoint';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const CLIENT_SECRET = 'lambda-entry-client-secret';
const COUNTER_KEY_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:tvm-counter-key-AbCdEf';
const COUNTER_KEY = randomBytes(32).toString('base64');

/**
 * The Lambda entry (`lambda/index.ts`) as the CDK stack ships it: bundled by esbuild with the stack's options,
 * the providers file beside it, run in a fresh Node process that talks to DynamoDB Local, a loopback
 * Secrets Manager and a loopback KMS through the SDK's own endpoint variables (AWS_ENDPOINT_URL_*).
 */
describe('Lambda entry, bundled', () => {
  let table: TestTable;
  let provider: FakeProvider;
  let secretsManager: SecretsManagerEndpoint;
  let kms: KmsEndpoint;
  const dir = join(ROOT, '.cache', `lambda-entry-${process.pid}`);

  beforeAll(async () => {
    [table, provider, secretsManager] = await Promise.all([
      createTestTable(),
      startFakeProvider(),
      startSecretsManagerEndpoint(),
    ]);
    kms = await startKmsEndpoint(secretsManager.credentials);
    secretsManager.setSecret(
      'tvm/lambda',
      JSON.stringify({ client_id: 'lambda-client', client_secret: CLIENT_SECRET }),
    );
    secretsManager.setSecret(COUNTER_KEY_ARN, COUNTER_KEY);
    await bundleFunction(dir, {
      providers: [
        {
          id: 'partner',
          tokenEndpoint: provider.tokenEndpoint,
          clientAuth: 'client_secret_post',
          secretId: 'tvm/lambda',
          callers: ['arn:aws:iam::111122223333:role/orders-service'],
        },
      ],
    });
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([table.dispose(), provider.close(), secretsManager.close(), kms.close()]);
  });

  it('vends through the real entry: cold-start config, Secrets Manager, the table, Powertools logs', async () => {
    const event = (id: string) =>
      proxyEvent({
        method: 'POST',
        resource: '/v1/tokens/{provider}',
        path: '/v1/tokens/partner',
        pathParameters: { provider: 'partner' },
        accessKeyId: 'ASIAORDERS',
        principalArn: 'arn:aws:sts::111122223333:assumed-role/orders-service/task',
        requestId: id,
      });
    // The stack's schedule rule delivers this: the entry runs the refresher for it.
    const scheduled = {
      version: '0',
      id: 'schedule-event',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '111122223333',
      time: new Date().toISOString(),
      region: 'us-east-1',
      resources: ['arn:aws:events:us-east-1:111122223333:rule/refresh'],
      detail: {},
    };
    const resultFile = join(dir, 'results.json');
    const script = `
      const { handler } = require(${JSON.stringify(join(dir, 'index.js'))});
      const context = { awsRequestId: 'lambda-request', functionName: 'vend', memoryLimitInMB: '512',
        functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:vend' };
      (async () => {
        const results = [];
        for (const event of ${JSON.stringify([event('first-request'), event('second-request'), scheduled])}) {
          results.push(await handler(event, context));
        }
        require('node:fs').writeFileSync(${JSON.stringify(resultFile)}, JSON.stringify(results));
      })();`;
    const { stdout } = await run(process.execPath, ['-e', script], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_NO_WARNINGS: '1',
        TVM_TABLE: table.tableName,
        TVM_LOCAL_ENDPOINTS: 'allow',
        TVM_SEALING_KEY_ID: kms.keyId,
        TVM_COUNTER_KEY_SECRET_ARN: COUNTER_KEY_ARN,
        TVM_ANY_CALLER_ACCOUNTS: '111122223333',
        AWS_ENDPOINT_URL_KMS: kms.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: secretsManager.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: secretsManager.credentials.secretAccessKey,
        AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
      },
    });
    const [first, second, refresh] = JSON.parse(readFileSync(resultFile, 'utf8')) as [
      { statusCode: number; body: string },
      { statusCode: number; body: string },
      Record<string, number>,
    ];
    const results = [first, second];
    // The vended token was marked in use; a 3600 s token is not due for renewal yet.
    assert.equal(refresh.due, 0);
    assert.equal(refresh.renewed, 0);
    assert.deepEqual(
      results.map((result) => result.statusCode),
      [200, 200],
    );
    const tokens = results.map(
      (result) => (JSON.parse(result.body) as { access_token: string }).access_token,
    );
    assert.equal(tokens[0], tokens[1]);
    assert.equal(provider.requests.length, 1);
    assert.equal(provider.requests[0]?.params.client_secret, CLIENT_SECRET);
    assert.deepEqual(
      secretsManager.reads,
      ['tvm/lambda', COUNTER_KEY_ARN],
      'the secret and the counter key were each read once and then cached',
    );
    // The caller's budget counter is named by an HMAC under the counter key: without it, no ARN matches.
    const { Items: items = [] } = await table.client.send(new ScanCommand({ TableName: table.tableName }));
    const counters = items.map((item) => String(item.pk?.S)).filter((pk) => pk.includes('#caller#'));
    const expected = createHmac('sha256', Buffer.from(COUNTER_KEY, 'utf8'))
      .update('arn:aws:iam::111122223333:role/orders-service')
      .digest('base64url')
      .slice(0, 22);
    assert.equal(counters.length, 1);
    // The first vend marked its key in use, once (the memory hit marked nothing): one index item, one mark.
    const marks = items.filter((item) => String(item.pk?.S).startsWith('due#'));
    assert.equal(marks.length, 1);
    assert.equal(marks[0]?.marks?.SS?.length, 1);
    assert.doesNotMatch(JSON.stringify(marks), /lambda-entry-client-secret|fake-token/);
    assert.match(counters[0] ?? '', new RegExp(`^budget#partner#caller#${expected}#\\d+$`));
    assert.deepEqual(kms.calls, ['GenerateDataKey'], 'one data key sealed the token for the table');

    const documents = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // The scheduled invocation published its run's metrics before it returned: no request line follows it.
    const refreshRuns = documents.filter((line) => line._aws !== undefined && line.RefreshDue !== undefined);
    assert.equal(refreshRuns.length, 1, 'one EMF document for the refresher run');
    const [refreshRun] = refreshRuns as Array<
      Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][] }> } }
    >;
    assert.deepEqual(
      [
        refreshRun?.RefreshDue,
        refreshRun?.RefreshRenewed,
        refreshRun?.RefreshFailed,
        refreshRun?.RefreshNotStarted,
      ],
      [0, 0, 0, 0],
    );
    assert.deepEqual(refreshRun?._aws.CloudWatchMetrics[0]?.Dimensions, [['service']]);
    const lines = documents.filter((line) => line.message === 'request');
    assert.deepEqual(
      lines.map((line) => [line.request_id, line.cache, line.function_request_id]),
      [
        ['first-request', 'miss', 'lambda-request'],
        ['second-request', 'memory', 'lambda-request'],
      ],
    );
    assertNothingSensitive([stdout], [CLIENT_SECRET, COUNTER_KEY, ...tokens]);
  });
});
