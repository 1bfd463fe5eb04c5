import assert from 'node:assert/strict';
import {
  type DynamoDBClient,
  TransactionCanceledException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { createTestTable, type TestTable, tableThrough } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';
import { ORDERS, ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const DAY_MS = 86_400_000;
const BILLING_ROLE = 'arn:aws:iam::111122223333:role/billing-service';
/** Just under the provider's 3600 s tokens: every vend needs a new token. */
const FORCING = { min_ttl: 3599 };

const PROVIDERS = (tokenEndpoint: string) => [
  {
    id: 'shared-310',
    tokenEndpoint,
    clientAuth: 'client_secret_post',
    secretId: 'tvm/quota',
    // 310 a month: 10 a UTC day, 5 for each of its two callers.
    callers: [ORDERS_ROLE, BILLING_ROLE],
    tokenQuota: { tokens: 310, periodDays: 30 },
  },
];

const isCounter = (key: unknown) =>
  String((key as { pk?: { S?: string } } | undefined)?.pk?.S ?? '').startsWith('budget#');

/**
 * Found by an attacker's review: a budget spend that DynamoDB refused with `TransactionConflictException` was
 * counted in the container's own fallback ledger, where the caller's share and the provider's day start
 * from nothing. Real DynamoDB answers a plain UpdateItem that way while another request's transaction holds
 * the item — and every lease takes its toll in a transaction on the same counters (the provider's minute
 * and day counters are written by every caller's miss); a toll cancelled for a conflict is `undecided`, so
 * its holder is charged by plain spends on those same hot counters right after. Now such a spend is asked
 * again a few times, then refused (429 with Retry-After), and never counted locally.
 *
 * DynamoDB Local serializes transactions (200 concurrent transactions and updates of one item: no
 * conflict), so the conflict is injected on the counter writes of the vends that meet it (a middleware on
 * the table's client: a fault no local part produces); the table stays the real one for everything else.
 */
describe('A budget counter that other transactions keep busy', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let containers: TestService[];
  let tables: TestTable[];
  let conflicting = false;
  let now = Math.floor(Date.now() / DAY_MS) * DAY_MS + DAY_MS / 2;

  const conflictsOnCounters = (client: DynamoDBClient) =>
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (conflicting && context.commandName === 'UpdateItemCommand') {
          if (isCounter((args.input as { Key?: unknown }).Key)) {
            throw new TransactionConflictException({
              message: 'Transaction is ongoing for the item',
              $metadata: { httpStatusCode: 400 },
            });
          }
        }
        if (conflicting && context.commandName === 'TransactWriteItemsCommand') {
          const items = (args.input as { TransactItems: Array<{ Update?: { Key?: unknown } }> })
            .TransactItems;
          if (items.some((item) => isCounter(item.Update?.Key))) {
            throw new TransactionCanceledException({
              message: 'Transaction cancelled, please refer cancellation reasons for specific reasons',
              $metadata: { httpStatusCode: 400 },
              CancellationReasons: items.map((item) =>
                isCounter(item.Update?.Key)
                  ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' }
                  : { Code: 'None' },
              ),
            });
          }
        }
        return next(args);
      },
      { step: 'initialize', name: 'counterConflicts' },
    );

  beforeAll(async () => {
    [provider, table] = await Promise.all([
      startFakeProvider((_request, index) => grant(`quota-${index}`)),
      createTestTable(),
    ]);
    tables = [tableThrough(table, conflictsOnCounters), tableThrough(table, conflictsOnCounters)];
    containers = await Promise.all(
      tables.map((through) =>
        startTestService({
          providers: PROVIDERS(provider.tokenEndpoint),
          secrets: { 'tvm/quota': { client_id: 'quota', client_secret: 'quota-secret' } },
          table: through,
          callTimeoutMs: 10_000,
          log: new RecordingLog(),
          now: () => now,
        }),
      ),
    );
  });

  afterAll(async () => {
    await Promise.all(containers.map((container) => container.close()));
    await Promise.all(tables.map((through) => through.dispose()));
    await Promise.all([provider.close(), table.dispose()]);
  });

  it("keeps a caller to its share of the quota's day, and the provider to its day", async () => {
    const [first, second] = containers as [TestService, TestService];
    // ORDERS spends its share of the day (5 new tokens); the sixth is refused.
    for (let index = 0; index < 5; index++) {
      now += 2000;
      assert.equal((await first.vend('shared-310', FORCING, ORDERS)).status, 200);
    }
    now += 2000;
    assert.equal((await first.vend('shared-310', FORCING, ORDERS)).status, 429);
    const withinShare = provider.requests.length;
    assert.equal(withinShare, 5);

    // Its next vends' counter writes meet other requests' transactions on the same counters.
    conflicting = true;
    const statuses: number[] = [];
    for (const container of [first, second]) {
      for (let index = 0; index < 5; index++) {
        now += 2000;
        statuses.push((await container.vend('shared-310', FORCING, ORDERS)).status);
      }
    }
    conflicting = false;

    assert.deepEqual(
      {
        mintedPastItsShare: provider.requests.length - withinShare,
        served: statuses.filter((s) => s === 200).length,
      },
      // What should hold: nothing more today for ORDERS (its share is 5, the provider's day 10).
      { mintedPastItsShare: 0, served: 0 },
    );
  });
});
