import assert from 'node:assert/strict';
import { PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { TokenSealer } from '../../lambda/cache/token-sealer';
import { IN_USE_ITEM } from '../../lambda/contracts/token-table';
import type { CachedToken } from '../../lambda/model';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { localSealer } from '../../local/sealing';
import { createTestTable, dynamoDbClient, type TestTable } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const SECRET = 'refresher-failures-secret';
const LIFETIME_S = 300;

/** The key service as the refresher's container sees it: answering, or refusing every seal (KMS down). */
class SwitchableSealer implements TokenSealer {
  down = false;
  private readonly inner = localSealer();

  seal(token: CachedToken, context: Parameters<TokenSealer['seal']>[1]): Promise<Uint8Array> {
    if (this.down)
      return Promise.reject(Object.assign(new Error('KMS refused'), { name: 'KMSInternalException' }));
    return this.inner.seal(token, context);
  }

  open(...args: Parameters<TokenSealer['open']>): Promise<CachedToken> {
    if (this.down)
      return Promise.reject(Object.assign(new Error('KMS refused'), { name: 'KMSInternalException' }));
    return this.inner.open(...args);
  }
}

/**
 * What the refresher could not do is counted as failed (issue 28 item 5), and a mark that does not verify
 * as a whole is not renewed (issue 29 item 4): on DynamoDB Local, a loopback provider and a stepped clock.
 */
describe('Refresher: what it could not do is counted, and only whole marks are renewed', () => {
  let provider: FakeProvider;
  let table: TestTable;
  const log = new RecordingLog();
  const instances: TestService[] = [];
  let providerSeq = 0;
  let clock = Date.now();
  const now = () => clock;
  let tokenSeq = 0;

  const entry = () => {
    providerSeq += 1;
    return {
      id: `failing-${providerSeq}`,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/failing',
      callers: [ORDERS_ROLE],
      refreshMarginSeconds: 60,
      timeoutMs: 5000,
      maxAttempts: 1,
    };
  };

  async function start(providerEntry: Record<string, unknown>, sealer?: TokenSealer): Promise<TestService> {
    const instance = await startTestService({
      providers: [providerEntry],
      secrets: { 'tvm/failing': { client_id: 'failing-client', client_secret: SECRET } },
      table,
      log,
      now,
      refreshPeriodSeconds: 60,
      ...(sealer ? { sealer } : {}),
    });
    instances.push(instance);
    return instance;
  }

  beforeAll(async () => {
    [provider, table] = await Promise.all([startFakeProvider(), createTestTable()]);
    provider.setBehaviour(() => grant(`failing-${++tokenSeq}`, { expires_in: LIFETIME_S }));
  });

  beforeEach(() => {
    // Past every earlier test's keys: each test's run sees its own.
    clock += 2 * LIFETIME_S * 1000;
  });

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.close()));
    await Promise.all([provider.close(), table.dispose()]);
  });

  it('counts a renewal whose key service refuses to seal or open as failed, not current', async () => {
    const providerEntry = entry();
    const caller = await start(providerEntry);
    const sealer = new SwitchableSealer();
    const refresherInstance = await start(providerEntry, sealer);
    assert.equal((await caller.vend(providerEntry.id)).status, 200);
    clock += 208_000;
    sealer.down = true;
    const report = await refresherInstance.refresher.refreshDueKeys(clock);
    assert.equal(report.failed, 1, JSON.stringify(report));
    assert.equal(report.current, 0, JSON.stringify(report));
  });

  it('counts an index it could not read as failed, not as nothing due', async () => {
    const providerEntry = entry();
    const instance = await startTestService({
      providers: [providerEntry],
      secrets: { 'tvm/failing': { client_id: 'failing-client', client_secret: SECRET } },
      // A table DynamoDB Local does not have: the run's index read fails, as a deleted table's would.
      table: { ...table, tableName: 'no-such-table' },
      log,
      now,
      refreshPeriodSeconds: 60,
    });
    instances.push(instance);
    const report = await instance.refresher.refreshDueKeys(clock);
    assert.ok(report.failed >= 1, JSON.stringify(report));
  });

  it('does not renew a mark changed in any field, and counts it as rejected', async () => {
    const providerEntry = entry();
    const instance = await start(providerEntry);
    assert.equal((await instance.vend(providerEntry.id)).status, 200);
    const client = dynamoDbClient(table.endpoint);
    const { Items = [] } = await client.send(new ScanCommand({ TableName: table.tableName }));
    let changed = 0;
    for (const item of Items.filter((stored) => stored.pk?.S?.startsWith(IN_USE_ITEM.keyPrefix))) {
      const marks = item[IN_USE_ITEM.marks]?.SS ?? [];
      const ours = marks.filter((mark) => mark.includes(providerEntry.id));
      if (ours.length === 0) continue;
      // A replay: the caller's own sealed principal, kept in use a day longer than it was.
      const replayed = ours.map((mark) => {
        const fields = JSON.parse(mark) as Record<string, unknown>;
        return JSON.stringify({ ...fields, u: Number(fields.u) + 86_400 });
      });
      changed += replayed.length;
      await client.send(
        new PutItemCommand({
          TableName: table.tableName,
          Item: {
            ...item,
            [IN_USE_ITEM.marks]: { SS: [...marks.filter((mark) => !ours.includes(mark)), ...replayed] },
          },
        }),
      );
    }
    client.destroy();
    assert.ok(changed > 0, 'the vend marked its key');
    const before = provider.requests.length;
    clock += 208_000;
    const report = await instance.refresher.refreshDueKeys(clock);
    assert.equal(provider.requests.length - before, 0, 'no renewal for a changed mark');
    assert.equal((report as unknown as Record<string, number>).rejected, changed, JSON.stringify(report));
  });
});
