import assert from 'node:assert/strict';
import { ScanCommand, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDbBudgetLedger, InProcessBudgetLedger } from '../../lambda/budget/budget-ledger';
import { CallerCounterNames, RandomCounterKey } from '../../lambda/budget/caller-counter-names';
import { UpstreamBudget } from '../../lambda/budget/upstream-budget';
import { cacheKey } from '../../lambda/cache/cache-key';
import { DependencyBypass } from '../../lambda/cache/dependency-bypass';
import { DynamoDbTier } from '../../lambda/cache/dynamodb-tier';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { localSealer } from '../../local/sealing';
import { createTestTable, type TestTable, tableThrough } from '../support/dynamodb';
import { startInstances } from '../support/instances';
import { RecordingLog } from '../support/recording-log';
import { BILLING, ORDERS, ORDERS_ROLE, startTestService } from '../support/test-service';

const SCOPES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
const BILLING_ROLE = 'arn:aws:iam::111122223333:role/billing-service';

/**
 * A miss takes the key's lease and charges the caller's and the provider's budget counters in one
 * TransactWriteItems, each with its condition: a lease only with both spends, a spend only with the lease.
 * Which condition cancelled it says what the caller gets: the lease's (the item changed: the vend goes on
 * as before), a counter's (its budget: 429, and nothing written). What cancels it otherwise decides nothing:
 * the lease is taken alone and its holder charged after, as before transactions.
 */
describe('A miss: the lease and both budget charges in one transaction', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let entryCount = 0;
  // Pinned inside one minute: the budget's window cannot turn over mid-test.
  const pinned = Math.floor(Date.now() / 60_000) * 60_000 + 1000;

  beforeAll(async () => {
    [provider, table] = await Promise.all([
      startFakeProvider((_request, index) => grant(`tx-${index}`)),
      createTestTable(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([provider.close(), table.dispose()]);
  });

  const entry = (upstreamBudget: Record<string, number>) => ({
    id: `tx${++entryCount}`,
    tokenEndpoint: provider.tokenEndpoint,
    clientAuth: 'client_secret_post',
    secretId: 'tvm/tx',
    allowedScopes: SCOPES,
    defaultScopes: ['a'],
    callers: [ORDERS_ROLE, BILLING_ROLE],
    upstreamBudget,
  });
  const secrets = { 'tvm/tx': { client_id: 'tx', client_secret: 'tx-secret' } };

  /** Every item of the table whose key starts with `prefix` (a test may scan; the service never does). */
  const itemsStartingWith = async (prefix: string) => {
    const { Items = [] } = await table.client.send(new ScanCommand({ TableName: table.tableName }));
    return Items.filter((item) => item.pk?.S?.startsWith(prefix));
  };
  /** The provider's counters this window: its own (`all`) and each caller's, by spend. */
  const counters = async (providerId: string) => {
    const items = await itemsStartingWith(`budget#${providerId}#`);
    const spent = (item: (typeof items)[number]) => Number(item.spent?.N);
    return {
      all: items.filter((item) => item.pk?.S?.includes('#all#')).map(spent),
      callers: items
        .filter((item) => item.pk?.S?.includes('#caller#'))
        .map(spent)
        .sort(),
    };
  };

  /** The table through a client that records each command's name, and lets a test fail one. */
  const recorded = (fault?: (command: string) => Error | undefined) => {
    const commands: string[] = [];
    const through = tableThrough(table, (client) =>
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const command = (context.commandName ?? '').replace(/Command$/, '');
          commands.push(command);
          const injected = fault?.(command);
          if (injected) throw injected;
          return next(args);
        },
        { step: 'initialize', name: 'recordCommands' },
      ),
    );
    return { table: through, commands };
  };

  it('makes four round trips on a cold miss: the read; the lease with both charges, beside the read of the provider backoff record; the token and the in-use mark', async () => {
    const providerEntry = entry({ perCallerPerMinute: 5, perMinute: 10 });
    const { table: through, commands } = recorded();
    const service = await startTestService({
      providers: [providerEntry],
      secrets,
      table: through,
      now: () => pinned,
    });
    try {
      const response = await service.vend(providerEntry.id);
      assert.equal(response.status, 200, response.text);
      // The provider's backoff record is read while the lease is taken, and the token's write and the mark go
      // out together: in each pair either may be first.
      assert.equal(commands[0], 'GetItem');
      assert.deepEqual(commands.slice(1, 3).sort(), ['GetItem', 'TransactWriteItems']);
      assert.deepEqual(commands.slice(3).sort(), ['UpdateItem', 'UpdateItem']);
      assert.deepEqual(await counters(providerEntry.id), { all: [1], callers: [1] });
    } finally {
      await service.close();
      await through.dispose();
    }
  });

  it("cancelled by the caller's budget: 429, no lease written, the provider's counter not spent", async () => {
    const providerEntry = entry({ perCallerPerMinute: 1, perMinute: 10 });
    const service = await startTestService({ providers: [providerEntry], secrets, table, now: () => pinned });
    try {
      const before = provider.requests.length;
      assert.equal((await service.vend(providerEntry.id, { scope: 'a' })).status, 200);
      const refused = await service.vend(providerEntry.id, { scope: 'a b' });
      assert.equal(refused.status, 429);
      assert.equal(refused.json.error, 'throttled');
      assert.match(String(refused.json.message), /This caller has made provider "tx\d+" issue 1 tokens/);
      assert.equal(provider.requests.length - before, 1);
      assert.deepEqual(await counters(providerEntry.id), { all: [1], callers: [1] });
      // The refused key was never leased (nor given back): it has no item at all.
      const keyOf = (scopes: string[]) =>
        cacheKey({
          providerId: providerEntry.id,
          tokenEndpoint: provider.tokenEndpoint,
          clientId: 'tx',
          scopes,
        });
      assert.equal((await itemsStartingWith(keyOf(['a']))).length, 1);
      assert.equal((await itemsStartingWith(keyOf(['a', 'b']))).length, 0);
    } finally {
      await service.close();
    }
  });

  it("cancelled by the provider's budget: 429, and the caller's own counter is not spent either", async () => {
    const providerEntry = entry({ perCallerPerMinute: 5, perMinute: 2 });
    const service = await startTestService({ providers: [providerEntry], secrets, table, now: () => pinned });
    try {
      assert.equal((await service.vend(providerEntry.id, { scope: 'a' }, ORDERS)).status, 200);
      assert.equal((await service.vend(providerEntry.id, { scope: 'a b' }, BILLING)).status, 200);
      const refused = await service.vend(providerEntry.id, { scope: 'a c' }, ORDERS);
      assert.equal(refused.status, 429);
      assert.match(String(refused.json.message), /Provider "tx\d+" has been asked for 2 tokens/);
      // Each caller spent one: the refused request spent nothing of ORDERS' own budget.
      assert.deepEqual(await counters(providerEntry.id), { all: [2], callers: [1, 1] });
    } finally {
      await service.close();
    }
  });

  it('never lets concurrent misses over two instances exceed a budget: 3 of 10 cold keys are fetched', async () => {
    const providerEntry = entry({ perCallerPerMinute: 3, perMinute: 100 });
    const group = await startInstances(2, { providers: [providerEntry], secrets, table, now: () => pinned });
    try {
      const before = provider.requests.length;
      const statuses = await Promise.all(
        SCOPES.map(async (scope, index) => {
          const instance = group.instances[index % 2];
          assert.ok(instance);
          return (await instance.vend(providerEntry.id, { scope: `a ${scope}` })).status;
        }),
      );
      assert.equal(statuses.filter((status) => status === 200).length, 3);
      assert.equal(statuses.filter((status) => status === 429).length, 7);
      assert.equal(provider.requests.length - before, 3);
      assert.deepEqual(await counters(providerEntry.id), { all: [3], callers: [3] });
    } finally {
      await group.close();
    }
  });

  it('cancelled by another transaction on a counter (injected: DynamoDB Local never conflicts), takes the lease alone and charges after: one spend each', async () => {
    const providerEntry = entry({ perCallerPerMinute: 5, perMinute: 10 });
    let conflicts = 0;
    const { table: through, commands } = recorded((command) => {
      if (command !== 'TransactWriteItems' || conflicts > 0) return undefined;
      conflicts += 1;
      return new TransactionCanceledException({
        message: 'Transaction cancelled, please refer cancellation reasons for specific reasons',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'None' }, { Code: 'TransactionConflict' }],
      });
    });
    const log = new RecordingLog();
    const service = await startTestService({
      providers: [providerEntry],
      secrets,
      table: through,
      log,
      now: () => pinned,
    });
    try {
      const before = provider.requests.length;
      const response = await service.vend(providerEntry.id);
      assert.equal(response.status, 200, response.text);
      assert.equal(provider.requests.length - before, 1);
      assert.equal(conflicts, 1);
      // The lease alone, then the two spends, each a plain conditional update (the provider's backoff record
      // is read beside the transaction).
      assert.deepEqual(commands.slice(0, 6), [
        'GetItem',
        'GetItem',
        'TransactWriteItems',
        'UpdateItem',
        'UpdateItem',
        'UpdateItem',
      ]);
      assert.deepEqual(await counters(providerEntry.id), { all: [1], callers: [1] });
      assert.equal(
        log.entries().filter((line) => line.event === 'cache_table_error').length,
        0,
        'a cancelled transaction is not a failing table',
      );
    } finally {
      await service.close();
      await through.dispose();
    }
  });

  describe('at the tier', () => {
    const counterKey = new RandomCounterKey();
    const budgetOn = (log: RecordingLog) =>
      new UpstreamBudget({
        ledger: new DynamoDbBudgetLedger({ client: table.client, tableName: table.tableName }),
        fallback: new InProcessBudgetLedger(),
        names: new CallerCounterNames(counterKey),
        log,
        bypass: new DependencyBypass({ log }),
      });
    const tierOn = () =>
      new DynamoDbTier({ client: table.client, tableName: table.tableName, sealer: localSealer() });

    it('a lease refused in the transaction (the item changed since the read) spends nothing, and says superseded', async () => {
      const [providerConfig] = parseProviderConfig(
        { providers: [entry({ perCallerPerMinute: 5, perMinute: 10 })] },
        'test',
        'local',
      );
      assert.ok(providerConfig);
      const budget = budgetOn(new RecordingLog());
      const toll = budget.toll('caller', providerConfig);
      assert.ok(toll, 'a table ledger charges with the lease');
      const key = `tx-tier-${providerConfig.id}`;
      const ours = tierOn();
      // Read first: the lease starts from this read, which is out of date once the other container stores.
      assert.equal(await ours.read(key), undefined);
      const theirs = tierOn();
      const now = Math.floor(Date.now() / 1000);
      await theirs.store(key, { accessToken: 'theirs', issuedAt: now, expiresAt: now + 3600 }, 'p');
      const result = await ours.acquire(key, 5000, undefined, toll);
      assert.equal(result.kind, 'superseded');
      assert.equal(result.kind === 'superseded' ? result.item?.token?.accessToken : undefined, 'theirs');
      assert.deepEqual(await counters(providerConfig.id), { all: [], callers: [] });
    });

    it('a lease taken with its toll says so; one taken where the toll cannot go (no table ledger) does not', async () => {
      const [providerConfig] = parseProviderConfig(
        { providers: [entry({ perCallerPerMinute: 5, perMinute: 10 })] },
        'test',
        'local',
      );
      assert.ok(providerConfig);
      const toll = budgetOn(new RecordingLog()).toll('caller', providerConfig);
      const tier = tierOn();
      const paid = await tier.acquire(`tx-paid-${providerConfig.id}`, 5000, undefined, toll);
      assert.equal(paid.kind === 'acquired' ? paid.lease.tollPaid : undefined, true);
      assert.deepEqual(await counters(providerConfig.id), { all: [1], callers: [1] });
      const alone = new UpstreamBudget({
        ledger: new InProcessBudgetLedger(),
        fallback: new InProcessBudgetLedger(),
        names: new CallerCounterNames(counterKey),
        log: new RecordingLog(),
        bypass: new DependencyBypass({ log: new RecordingLog() }),
      });
      assert.equal(alone.toll('caller', providerConfig), undefined);
      const unpaid = await tier.acquire(`tx-unpaid-${providerConfig.id}`, 5000, undefined);
      assert.equal(unpaid.kind === 'acquired' ? unpaid.lease.tollPaid : 'not acquired', undefined);
    });
  });
});
