import assert from 'node:assert/strict';
import { DEMO_CALLER } from '../../local/local-config';
import { type LocalService, startLocalService } from '../../local/local-service';
import { TvmClient, TvmError } from '../../packages/client/src';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';

const DEMO = { accessKeyId: DEMO_CALLER.accessKeyId, secretAccessKey: DEMO_CALLER.secretAccessKey };
const CREDENTIAL_SCOPE = /Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\/execute-api\//;

/**
 * One name in front of several regions (a custom domain): the local run stands for the region the name
 * resolved to, eu-west-1, and checks the signing region as API Gateway does (a 403 "Credential should be
 * scoped to a valid region" before anything else). A `fetch` that records each request's signing region is
 * the only thing between the client and the real gateway.
 */
describe('Class: TvmClient, one endpoint name for several regions', () => {
  let table: TestTable;
  let local: LocalService;
  const log = new RecordingLog();
  let signedFor: string[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    const authorization = new Headers(init?.headers).get('authorization') ?? '';
    signedFor.push(CREDENTIAL_SCOPE.exec(authorization)?.[1] ?? 'unsigned');
    return fetch(input, init);
  };
  const functionCalls = () => log.entries().filter((entry) => entry.message === 'request').length;

  beforeAll(async () => {
    table = await createTestTable();
    local = await startLocalService(
      { port: 0, dynamoDbEndpoint: table.endpoint, tableName: table.tableName, region: 'eu-west-1' },
      log,
    );
  });

  afterAll(async () => {
    await local.stop();
    await table.dispose();
  });

  beforeEach(() => {
    signedFor = [];
  });

  const client = (regions: readonly string[]) =>
    new TvmClient({
      endpoints: [{ url: local.gateway.url, regions }],
      credentials: DEMO,
      fetch: recordingFetch,
      timeoutMs: 5000,
    });

  it('signs again for the other region on the wrong-region 403, once, and keeps the region that answered', async () => {
    const tvm = client(['eu-north-1', 'eu-west-1']);
    const before = functionCalls();
    const { token } = await tvm.vend('demo');
    assert.ok(token.accessToken.length > 0);
    assert.deepEqual(signedFor, ['eu-north-1', 'eu-west-1']);
    assert.equal(functionCalls(), before + 1, 'the refused request never reached the function');

    signedFor = [];
    await tvm.vend('demo');
    await tvm.listProviders();
    assert.deepEqual(signedFor, ['eu-west-1', 'eu-west-1'], 'the next calls are signed right the first time');
  });

  it('does not sign again on any other 403', async () => {
    const tvm = client(['eu-west-1', 'eu-north-1']);
    await assert.rejects(tvm.vend('no-such-provider'), (error: unknown) => {
      assert.ok(error instanceof TvmError);
      assert.equal(error.code, 'access_denied');
      return true;
    });
    assert.deepEqual(signedFor, ['eu-west-1']);
  });

  it('answers the wrong-region 403 when no listed region is the one that answers', async () => {
    const tvm = client(['eu-north-1', 'eu-central-1']);
    await assert.rejects(tvm.vend('demo'), (error: unknown) => {
      assert.ok(error instanceof TvmError);
      assert.equal(error.code, 'access_denied');
      assert.match(error.message, /scoped to a valid region/);
      return true;
    });
    assert.deepEqual(signedFor, ['eu-north-1', 'eu-central-1'], 'each region tried once, no more');
  });

  it('refuses `regions` with `region`, or empty', () => {
    const url = local.gateway.url;
    assert.throws(
      () =>
        new TvmClient({
          endpoints: [{ url, region: 'eu-west-1', regions: ['eu-west-1'] }],
          credentials: DEMO,
        }),
      /give `regions` \(at least one\) or `region`, not both/,
    );
    assert.throws(() => new TvmClient({ endpoints: [{ url, regions: [] }], credentials: DEMO }), TypeError);
  });
});
