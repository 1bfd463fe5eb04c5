import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CallerCounterNames, SecretsManagerCounterKey } from '../../lambda/budget/caller-counter-names';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { tokenFingerprint } from '../../packages/client/src/wire-contract';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import {
  type SecretsManagerEndpoint,
  secretsManagerClient,
  startSecretsManagerEndpoint,
} from '../support/secrets-manager-endpoint';
import { ORDERS_ROLE, startTestService } from '../support/test-service';

const SECRET_ID = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:tvm-counter-key';

/** The counter key from a loopback Secrets Manager: read once, and what the service does without it. */
describe('Budget counter key', () => {
  let secrets: SecretsManagerEndpoint;
  let provider: FakeProvider;
  let table: TestTable;
  const key = randomBytes(32).toString('base64');

  beforeAll(async () => {
    [secrets, provider, table] = await Promise.all([
      startSecretsManagerEndpoint(),
      startFakeProvider((_request, index) => grant(`counted-${index}`)),
      createTestTable(),
    ]);
    secrets.setSecret(SECRET_ID, key);
  });

  afterAll(async () => {
    await Promise.all([secrets.close(), provider.close(), table.dispose()]);
  });

  const entry = (id: string) => ({
    id,
    tokenEndpoint: provider.tokenEndpoint,
    clientAuth: 'client_secret_post',
    secretId: 'tvm/counted',
    allowedScopes: ['a', 'b', 'c'],
    defaultScopes: ['a'],
    callers: [ORDERS_ROLE],
  });
  const start = (id: string, counterKey: SecretsManagerCounterKey, log = new RecordingLog()) =>
    startTestService({
      providers: [entry(id)],
      secrets: { 'tvm/counted': { client_id: 'counted', client_secret: 'counted-secret' } },
      table,
      log,
      counterKey,
    });

  it('is read once per container and names the same caller the same way', async () => {
    const client = secretsManagerClient(secrets);
    const counterKey = new SecretsManagerCounterKey({ client, secretId: SECRET_ID });
    const service = await start('read-once', counterKey);
    try {
      const before = secrets.reads.length;
      for (const scope of ['a', 'b', 'c'])
        assert.equal((await service.vend('read-once', { scope })).status, 200);
      assert.equal(secrets.reads.length - before, 1);
      const names = new CallerCounterNames(counterKey);
      assert.equal(await names.of('x'), await names.of('x'));
      assert.notEqual(await names.of('x'), await names.of('y'));
    } finally {
      await service.close();
      client.destroy();
    }
  });

  it('without it, vends go on counted in the container, evicts answer 503, and it is asked again after 30 s', async () => {
    const client = secretsManagerClient(secrets);
    let clock = Date.now();
    const counterKey = new SecretsManagerCounterKey({ client, secretId: SECRET_ID, now: () => clock });
    const log = new RecordingLog();
    const service = await start('outage', counterKey, log);
    try {
      secrets.setOutage('error');
      const vend = await service.vend('outage');
      assert.equal(vend.status, 200, vend.text);
      assert.ok(log.entries().some((line) => line.event === 'counter_key_unavailable'));
      const reads = secrets.reads.length;
      const evict = await service.evict('outage', {
        token_fingerprint: tokenFingerprint(String(vend.json.access_token)),
      });
      assert.equal(evict.status, 503);
      assert.equal(evict.json.error, 'service_unavailable');
      assert.equal(evict.headers.get('retry-after'), '5');
      assert.equal(secrets.reads.length, reads, 'not asked again within 30 s');
      secrets.setOutage('none');
      clock += 30_001;
      assert.equal(
        (
          await service.evict('outage', {
            token_fingerprint: tokenFingerprint(String(vend.json.access_token)),
          })
        ).status,
        204,
      );
      assertNothingSensitive(log.lines, [key]);
    } finally {
      secrets.setOutage('none');
      await service.close();
      client.destroy();
    }
  });

  it('refuses a key shorter than 32 bytes', async () => {
    const client = secretsManagerClient(secrets);
    secrets.setSecret('short', 'too-short');
    try {
      await assert.rejects(
        new SecretsManagerCounterKey({ client, secretId: 'short' }).key(),
        /at least 32 bytes/,
      );
    } finally {
      client.destroy();
    }
  });
});
