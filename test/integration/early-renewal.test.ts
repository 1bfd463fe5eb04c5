import assert from 'node:assert/strict';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { RandomCounterKey } from '../../lambda/budget/caller-counter-names';
import { composeService } from '../../lambda/compose';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { IN_USE_ITEM } from '../../lambda/contracts/token-table';
import { StaticCredentialSource } from '../../lambda/credentials/static-credential-source';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { localSealer } from '../../local/sealing';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';

const ORDERS_ROLE = 'arn:aws:iam::111122223333:role/orders-service';

/**
 * Found by an attacker's review: a renewal message was renewed when it was delivered, whatever its mark's
 * `renewAt`. A mark is authenticated (it cannot be forged or changed), but a genuine copy of the current
 * token's mark — readable in the table's in-use index, or received from the renewal queue — sent to the
 * queue with no delay makes the refresher renew that token at once, an hour before it is due, charged to the
 * caller that marked it (each renewed token is marked again by the next vend that reads it, so someone who
 * can read the table and send to the queue renewed a key once per mark). Now a delivery more than a few
 * seconds before its renewAt waits for it.
 */
describe('A genuine mark replayed before its renewAt', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let now = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 43_200_000;

  beforeAll(async () => {
    [provider, table] = await Promise.all([
      startFakeProvider((_request, index) => grant(`hourly-${index}`)),
      createTestTable(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([provider.close(), table.dispose()]);
  });

  /** Every mark body the in-use index holds: what a reader of the table sees. */
  async function storedMarks(): Promise<string[]> {
    const { Items = [] } = await table.client.send(new ScanCommand({ TableName: table.tableName }));
    return Items.filter((item) => item.pk?.S?.startsWith(IN_USE_ITEM.keyPrefix)).flatMap(
      (item) => item[IN_USE_ITEM.marks]?.SS ?? [],
    );
  }

  it('is renewed only when due, not once per copy sent early', async () => {
    const providers = parseProviderConfig(
      {
        providers: [
          {
            id: 'hourly',
            tokenEndpoint: provider.tokenEndpoint,
            clientAuth: 'client_secret_post',
            secretId: 'tvm/hourly',
            callers: [ORDERS_ROLE],
          },
        ],
      },
      'replay providers',
      'local',
    );
    const { vendor, renewals } = composeService({
      providers,
      credentials: new StaticCredentialSource({
        'tvm/hourly': { client_id: 'h', client_secret: 'h-secret' },
      }),
      shared: {
        dynamoDb: table.client,
        tableName: table.tableName,
        sealer: localSealer(),
        callTimeoutMs: 10_000,
      },
      log: new RecordingLog(),
      counterKey: new RandomCounterKey(),
      endpoints: 'local',
      now: () => now,
    });

    const replayed = new Set<string>();
    const outcomes: string[] = [];
    for (let round = 0; round < 5; round++) {
      const vended = await vendor.vend(ORDERS_ROLE, 'hourly', {});
      const expiresAt = vended.token.expiresAt;
      // A copy of the mark of the token the table holds now, sent with no delay.
      const copies = (await storedMarks()).filter(
        (body) => !replayed.has(body) && (JSON.parse(body) as { e: number }).e === expiresAt,
      );
      for (const body of copies) replayed.add(body);
      // The copy is sent a few seconds after the vend that wrote it.
      now += 3000;
      const { batch } = await renewals.renewCounted(copies.slice(0, 1));
      outcomes.push(batch.counts.renewed > 0 ? 'renewed' : copies.length === 0 ? 'no mark' : 'not renewed');
      // Past this container's memory trust: the next vend reads the renewed token and marks it.
      now += 8000;
    }

    // An hour's token a few seconds old is not renewed (so no new token, and no new mark to copy): one
    // request for the hour. Before the fix each copy renewed at once: 5 renewed, 6 requests.
    assert.deepEqual(
      { outcomes, upstreamRequests: provider.requests.length },
      { outcomes: ['not renewed', 'no mark', 'no mark', 'no mark', 'no mark'], upstreamRequests: 1 },
    );
  });
});
