import assert from 'node:assert/strict';
import { PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { METRIC } from '../../lambda/contracts/metrics';
import { IN_USE_ITEM } from '../../lambda/contracts/token-table';
import { ConfigurationError } from '../../lambda/errors';
import { readSettings } from '../../local/local-config';
import { startLocalService } from '../../local/local-service';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { createTestTable, dynamoDbClient, type TestTable } from '../support/dynamodb';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import { type EmfDocument, RecordingMetrics } from '../support/recording-metrics';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const SECRET = 'refresher-client-secret';
const LIFETIME_S = 300;
const PERIOD_S = 60;

/**
 * The refresher on real parts: two instances (containers) on one DynamoDB Local table, a loopback provider,
 * a clock the test drives, and refresher runs the test makes at each period (no timer, no sleeps).
 */
describe('Refresher: renewal off the request path', () => {
  let provider: FakeProvider;
  let table: TestTable;
  const log = new RecordingLog();
  const instances: TestService[] = [];
  const issued: string[] = [];
  let providerSeq = 0;
  let clock = Date.now();
  const now = () => clock;

  function entry(overrides: Record<string, unknown> = {}) {
    providerSeq += 1;
    return {
      id: `refresh-${providerSeq}`,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/refresh',
      callers: [ORDERS_ROLE],
      refreshMarginSeconds: 60,
      timeoutMs: 5000,
      maxAttempts: 1,
      ...overrides,
    };
  }

  async function start(
    count: number,
    providerEntry: Record<string, unknown>,
    metrics?: RecordingMetrics,
  ): Promise<TestService[]> {
    const started = await Promise.all(
      Array.from({ length: count }, () =>
        startTestService({
          providers: [providerEntry],
          secrets: { 'tvm/refresh': { client_id: 'refresh-client', client_secret: SECRET } },
          table,
          log,
          now,
          refreshPeriodSeconds: PERIOD_S,
          ...(metrics ? { metrics } : {}),
        }),
      ),
    );
    instances.push(...started);
    return started;
  }

  /** The request lines of this provider's vends, in order: `miss` and `refresh` waited for the provider. */
  const outcomes = (providerId: string) =>
    log
      .entries()
      .filter((line) => line.provider === providerId && line.message === 'request')
      .map((line) => String(line.cache));

  const tokenSeq = { value: 0 };
  const shortLived = () => grant(`refreshed-${++tokenSeq.value}`, { expires_in: LIFETIME_S });

  beforeAll(async () => {
    [provider, table] = await Promise.all([startFakeProvider(), createTestTable()]);
  });

  beforeEach(() => {
    provider.setBehaviour(shortLived);
  });

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.close()));
    await Promise.all([provider.close(), table.dispose()]);
    assertNothingSensitive(log.lines, [SECRET, ...issued]);
  });

  it('keeps every vend after the first off the provider over five lifetimes of steady traffic from two instances', async () => {
    const providerEntry = entry();
    const group = await start(2, providerEntry);
    const before = provider.requests.length;
    const first = await group[0]?.vend(providerEntry.id);
    assert.equal(first?.status, 200, first?.text);
    const reports = [];
    for (let second = 5; second <= 5 * LIFETIME_S; second += 5) {
      clock += 5000;
      // The schedule's run, at each period: before the vends of that second, as a run at the minute would be.
      if (second % PERIOD_S === 0) reports.push(await group[0]?.refresher.refreshDueKeys(clock));
      // The renewal queue's delivery (the event source mapping's poll), in every instance that queued.
      for (const instance of group) reports.push(await instance.refresher.deliverRenewals());
      for (const instance of group) {
        const response = await instance.vend(providerEntry.id);
        assert.equal(response.status, 200, response.text);
        assert.ok(
          Number(response.json.expires_in) > 60,
          `expires_in ${response.json.expires_in} at +${second}s`,
        );
        issued.push(String(response.json.access_token));
      }
    }
    const later = outcomes(providerEntry.id).slice(1);
    assert.equal(later.length, 2 * LIFETIME_S);
    assert.deepEqual(
      later.filter((outcome) => outcome === 'miss' || outcome === 'refresh'),
      [],
      'no vend after the first waited for the provider',
    );
    const renewed = reports.reduce((sum, report) => sum + (report?.renewed ?? 0), 0);
    const upstream = provider.requests.length - before;
    // Every upstream request after the first was the refresher's, about one per lifetime (at 175–205 s of 300).
    assert.equal(upstream, renewed + 1);
    assert.ok(upstream >= 6 && upstream <= 12, `${upstream} upstream requests`);
  });

  it('marks a key in use once per token per container: never on a memory hit, once on a table hit', async () => {
    const providerEntry = entry();
    // The table through a client of its own, counting the index writes (UpdateItem on a `due#` item).
    const counting = dynamoDbClient(table.endpoint);
    let marks = 0;
    counting.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: { pk?: { S?: string } } };
        if (
          context.commandName === 'UpdateItemCommand' &&
          input.Key?.pk?.S?.startsWith(IN_USE_ITEM.keyPrefix)
        ) {
          marks += 1;
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    const counted = { ...table, client: counting };
    const group = await Promise.all(
      [0, 1].map(() =>
        startTestService({
          providers: [providerEntry],
          secrets: { 'tvm/refresh': { client_id: 'refresh-client', client_secret: SECRET } },
          table: counted,
          log,
          now,
          refreshPeriodSeconds: PERIOD_S,
        }),
      ),
    );
    instances.push(...group);
    // One lifetime, no refresher: each instance sees the first token (a miss, then a table hit) and the one
    // the request path renews; every other vend is a memory hit or a table hit of a token already marked.
    for (let second = 0; second < LIFETIME_S - 60; second += 5) {
      for (const instance of group) assert.equal((await instance.vend(providerEntry.id)).status, 200);
      clock += 5000;
    }
    assert.equal(marks, 4, 'two tokens, each marked once by each of the two instances');
    const memoryHits = outcomes(providerEntry.id).filter((outcome) => outcome === 'memory').length;
    // A copy is trusted 10 s (MEMORY_TRUST_SECONDS): of vends 5 s apart, about every other one is a memory hit.
    assert.ok(memoryHits > 40, `${memoryHits} memory hits`);
    counting.destroy();
  });

  it('stops renewing a key nobody vends: one renewal of the token last vended, then none', async () => {
    const providerEntry = entry();
    const [instance] = await start(1, providerEntry);
    assert.ok(instance);
    const before = provider.requests.length;
    assert.equal((await instance.vend(providerEntry.id)).status, 200);
    for (let second = PERIOD_S; second <= 4 * LIFETIME_S; second += PERIOD_S) {
      clock += PERIOD_S * 1000;
      await instance.refresher.refreshDueKeys(clock);
    }
    // The vended token was marked and renewed once; the renewed one was never vended, so never renewed.
    assert.equal(provider.requests.length - before, 2);
  });

  it('keeps no principal ARN in the table: the mark names its caller sealed, and a planted plain one is not renewed', async () => {
    const providerEntry = entry();
    const [instance] = await start(1, providerEntry);
    assert.ok(instance);
    assert.equal((await instance.vend(providerEntry.id)).status, 200);
    const { Items = [] } = await dynamoDbClient(table.endpoint).send(
      new ScanCommand({ TableName: table.tableName }),
    );
    const marks = Items.filter((item) => item.pk?.S?.startsWith(IN_USE_ITEM.keyPrefix));
    assert.ok(marks.length > 0, 'the vend marked its key in use');
    const raw = JSON.stringify(Items);
    assert.ok(!raw.includes(ORDERS_ROLE) && !raw.includes('orders-service'), 'no principal ARN or role name');
    // A writer of the table who plants a mark with a plain principal does not get a renewal charged to it.
    for (const item of marks) {
      const planted = (item[IN_USE_ITEM.marks]?.SS ?? []).map((mark) =>
        JSON.stringify({ ...(JSON.parse(mark) as Record<string, unknown>), c: ORDERS_ROLE }),
      );
      if (planted.length === 0) continue;
      await dynamoDbClient(table.endpoint).send(
        new PutItemCommand({
          TableName: table.tableName,
          Item: { ...item, [IN_USE_ITEM.marks]: { SS: planted } },
        }),
      );
    }
    const before = provider.requests.length;
    clock += 208_000;
    const report = await instance.refresher.refreshDueKeys(clock);
    assert.equal(provider.requests.length - before, 0);
    // The changed mark no longer verifies as a whole: it is refused before its principal is even opened.
    assert.ok(report.rejected >= 1, JSON.stringify(report));
  });

  /** Two instances with a vended key and the clock at the run that renews it. */
  async function keyDueForRenewal(providerEntry: ReturnType<typeof entry>) {
    const group = await start(2, providerEntry);
    const first = await group[0]?.vend(providerEntry.id);
    assert.equal(first?.status, 200);
    // 208 s: past every key's renewal point (175–205 s of a 300 s token, and rounding), before its margin (240 s).
    clock += 208_000;
    return { group, token: String(first?.json.access_token) };
  }

  it('costs one upstream request when two instances deliver the same key at once: the second finds the lease held, then the token current', async () => {
    // 100 s tokens with a 25 s margin fall due 50–60 s after issue: each instance that serves one sends its
    // own delayed message (no run would reach it in time), so two renewals of one key are delivered at once.
    const providerEntry = entry({ refreshMarginSeconds: 25 });
    provider.setBehaviour(() => grant(`short-${++tokenSeq.value}`, { expires_in: 100 }));
    const group = await start(2, providerEntry);
    for (const instance of group) assert.equal((await instance.vend(providerEntry.id)).status, 200);
    // Past the latest renewal point (60 s, and a second for rounding the issue time), before the margin (75 s).
    clock += 62_000;
    let answer: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    let received: () => void = () => undefined;
    const reachedProvider = new Promise<void>((resolve) => {
      received = resolve;
    });
    provider.setBehaviour(async () => {
      received();
      await answered;
      return shortLived();
    });
    const before = provider.requests.length;
    const firstRun = group[0]?.refresher.deliverRenewals();
    await reachedProvider;
    const secondRun = await group[1]?.refresher.deliverRenewals();
    answer();
    const firstReport = await firstRun;
    assert.equal(firstReport?.renewed, 1, JSON.stringify(firstReport));
    assert.equal(secondRun?.held, 1, JSON.stringify(secondRun));
    assert.equal(secondRun?.renewed, 0);
    // The held one is delivered again after the lease: the key is renewed by then, so nothing more is asked.
    clock += 15_000;
    const again = await group[1]?.refresher.deliverRenewals();
    assert.equal(again?.current, 1, JSON.stringify(again));
    assert.equal(provider.requests.length - before, 1);
  });

  it('leaves nothing wedged when a run dies mid-renewal: the lease runs out and the next run renews', async () => {
    const providerEntry = entry();
    const { group, token } = await keyDueForRenewal(providerEntry);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let received: () => void = () => undefined;
    const reachedProvider = new Promise<void>((resolve) => {
      received = resolve;
    });
    provider.setBehaviour(async () => {
      received();
      await released;
      return { status: 503, body: { error: 'temporarily_unavailable' } };
    });
    // The dead run: it holds the lease and never finishes (its process is gone, as far as the others know).
    const deadRun = group[0]?.refresher.refreshDueKeys(clock);
    await reachedProvider;
    // Meanwhile callers are served the valid token, without waiting on the dead holder.
    const during = await group[1]?.vend(providerEntry.id);
    assert.equal(during?.status, 200);
    assert.equal(during?.json.access_token, token);
    // Past the dead holder's lease (5 s timeout + 2 s) and the queue's visibility timeout (30 s): the
    // message the dead invocation held is delivered again, as SQS does, and renewed.
    clock += 31_000;
    provider.setBehaviour(shortLived);
    const before = provider.requests.length;
    const next = await group[0]?.refresher.deliverRenewals();
    assert.equal(next?.renewed, 1, JSON.stringify(next));
    assert.equal(provider.requests.length - before, 1);
    clock += 60_000;
    const after = await group[1]?.vend(providerEntry.id);
    assert.equal(after?.status, 200);
    assert.notEqual(after?.json.access_token, token);
    assert.equal(provider.requests.length - before, 1);
    release();
    await deadRun;
  });

  it('keeps serving the valid token through a provider outage at renewal, and backs off instead of asking again', async () => {
    const providerEntry = entry();
    const { group, token } = await keyDueForRenewal(providerEntry);
    provider.setBehaviour(() => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
    const before = provider.requests.length;
    // As for any fetch: three failures in a row (the queue delivers a failed renewal again 10 s later),
    // then the provider is left alone for a while and the message is a dead letter.
    const first = await group[0]?.refresher.refreshDueKeys(clock);
    assert.equal(first?.failed, 1, JSON.stringify(first));
    for (const attempt of [2, 3]) {
      clock += 10_000;
      const failedDelivery = await group[0]?.refresher.deliverRenewals();
      assert.equal(failedDelivery?.failed, 1, JSON.stringify(failedDelivery));
      assert.equal(provider.requests.length - before, attempt);
    }
    clock += 10_000;
    assert.equal((await group[0]?.refresher.deliverRenewals())?.failed, 0);
    assert.equal(provider.requests.length - before, 3);
    for (const instance of group) {
      const response = await instance.vend(providerEntry.id);
      assert.equal(response.status, 200);
      assert.equal(response.json.access_token, token);
    }
    assert.ok(
      log.entries().some((line) => line.event === 'refresh_failed' && line.provider === providerEntry.id),
    );
  });

  describe('metrics: one EMF document per run, dimension service only', () => {
    /** The run's document: the one carrying RefreshDue, published as the run ended. */
    function runDocument(metrics: RecordingMetrics): EmfDocument {
      const documents = metrics.carrying(METRIC.refreshDue);
      assert.equal(documents.length, 1, `one run document among ${JSON.stringify(metrics.documents)}`);
      const [document] = documents;
      assert.ok(document);
      assert.equal(document._aws.CloudWatchMetrics[0]?.Namespace, 'TokenVending');
      assert.deepEqual(document._aws.CloudWatchMetrics[0]?.Dimensions, [['service']]);
      assert.equal(document.service, 'token-vending');
      return document;
    }

    /** What the run's log line and report say is what its metrics say. */
    function assertCounts(document: EmfDocument, report: Record<string, number> | undefined) {
      assert.ok(report);
      assert.deepEqual(
        [
          document[METRIC.refreshDue],
          document[METRIC.refreshRenewed],
          document[METRIC.refreshFailed],
          document[METRIC.refreshNotStarted],
        ],
        [report.due, report.renewed, report.failed, report.not_started],
      );
      assert.equal(typeof document[METRIC.refreshRunDuration], 'number');
    }

    beforeEach(() => {
      // Past every earlier test's marks (in use for a lifetime after their vend): each run here sees its own keys.
      clock += 2 * LIFETIME_S * 1000;
    });

    it('counts a renewal as RefreshRenewed 1 and as TokensMinted of its provider, as a fetch on the request path is', async () => {
      const providerEntry = entry();
      const metrics = new RecordingMetrics();
      const [instance] = await start(1, providerEntry, metrics);
      assert.ok(instance);
      assert.equal((await instance.vend(providerEntry.id)).status, 200);
      const minted = metrics.carrying(METRIC.tokensMinted).length;
      clock += 208_000;
      const report = await instance.refresher.refreshDueKeys(clock);
      assert.equal(report.renewed, 1, JSON.stringify(report));
      const document = runDocument(metrics);
      assertCounts(document, report);
      assert.equal(document[METRIC.refreshRenewed], 1);
      assert.equal(document[METRIC.refreshFailed], 0);
      assert.equal(document[METRIC.refreshNotStarted], 0);
      const [renewal, ...others] = metrics.carrying(METRIC.tokensMinted).slice(minted);
      assert.deepEqual(others, []);
      assert.equal(renewal?.[METRIC.tokensMinted], 1);
      assert.equal(renewal?.provider, providerEntry.id);
      // Never a caller, a key or a scope in a dimension.
      for (const { _aws } of metrics.documents) {
        for (const set of _aws.CloudWatchMetrics.flatMap((entry) => entry.Dimensions)) {
          for (const name of set) assert.ok(['service', 'provider', 'cache'].includes(name), name);
        }
      }
    });

    it('counts a renewal the provider fails as RefreshFailed 1', async () => {
      const providerEntry = entry();
      const metrics = new RecordingMetrics();
      const [instance] = await start(1, providerEntry, metrics);
      assert.ok(instance);
      assert.equal((await instance.vend(providerEntry.id)).status, 200);
      clock += 208_000;
      provider.setBehaviour(() => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
      const report = await instance.refresher.refreshDueKeys(clock);
      const document = runDocument(metrics);
      assertCounts(document, report);
      assert.equal(document[METRIC.refreshFailed], 1);
      assert.equal(document[METRIC.refreshRenewed], 0);
    });

    it('hands over nothing with too little of its invocation left, counts it RefreshNotStarted, and the next run hands it over', async () => {
      const scopes = Array.from({ length: 10 }, (_, index) => `s${index}`);
      const providerEntry = entry({ allowedScopes: scopes, defaultScopes: ['s0'] });
      const metrics = new RecordingMetrics();
      const [instance] = await start(1, providerEntry, metrics);
      assert.ok(instance);
      for (const scope of scopes)
        assert.equal((await instance.vend(providerEntry.id, { scope })).status, 200);
      clock += 208_000;
      // Lambda's getRemainingTimeInMillis: 2 s left, under the run's 3 s reserve.
      const report = await instance.refresher.refreshDueKeys(clock, { remainingMs: () => 2000 });
      assert.equal(report.due, 10, JSON.stringify(report));
      assert.equal(report.not_started, 10, JSON.stringify(report));
      assert.equal(report.queued, 0);
      const document = runDocument(metrics);
      assertCounts(document, report);
      assert.equal(document[METRIC.refreshNotStarted], 10);
      // The watermark stayed where the run stopped: the next run, a period later, hands all ten over.
      clock += PERIOD_S * 1000;
      const next = await instance.refresher.refreshDueKeys(clock);
      assert.equal(next.queued, 10, JSON.stringify(next));
      assert.equal(next.renewed, 10, JSON.stringify(next));
    });

    it('publishes the table errors a run met as it ends, not at the next request', async () => {
      const metrics = new RecordingMetrics();
      // A table DynamoDB Local does not have: every call of the run fails, as a deleted table's would.
      const instance = await startTestService({
        providers: [entry()],
        secrets: { 'tvm/refresh': { client_id: 'refresh-client', client_secret: SECRET } },
        table: { ...table, tableName: 'no-such-table' },
        log,
        now,
        refreshPeriodSeconds: PERIOD_S,
        metrics,
      });
      instances.push(instance);
      const report = await instance.refresher.refreshDueKeys(clock);
      assert.equal(report.due, 0);
      // Not "nothing due": the run could not read the index, and says so (RefreshFailures can fire).
      assert.equal(report.failed, 1);
      const [tableErrors, ...others] = metrics.carrying(METRIC.tableErrors);
      assert.deepEqual(others, []);
      assert.equal(tableErrors?.[METRIC.tableErrors], 1);
      assertCounts(runDocument(metrics), report);
    });

    it('publishes a run with nothing due as zeros, not as no data', async () => {
      const metrics = new RecordingMetrics();
      const [instance] = await start(1, entry(), metrics);
      assert.ok(instance);
      const report = await instance.refresher.refreshDueKeys(clock);
      assert.equal(report.due, 0);
      const document = runDocument(metrics);
      assertCounts(document, report);
      assert.equal(document[METRIC.refreshNotStarted], 0);
    });
  });

  it('runs in the local run every TVM_REFRESH_INTERVAL_SECONDS, as the stack schedules it', async () => {
    assert.equal(readSettings({}).refreshIntervalSeconds, undefined);
    assert.equal(readSettings({ TVM_REFRESH_INTERVAL_SECONDS: '5' }).refreshIntervalSeconds, 5);
    for (const bad of ['0', '1.5', 'soon', '3601']) {
      assert.throws(() => readSettings({ TVM_REFRESH_INTERVAL_SECONDS: bad }), ConfigurationError);
    }
    const localLog = new RecordingLog();
    const local = await startLocalService(
      { port: 0, dynamoDbEndpoint: table.endpoint, tableName: table.tableName, refreshIntervalSeconds: 1 },
      localLog,
    );
    try {
      // Bounded wait for the timer's first two runs (each a second apart), not a fixed delay.
      const deadline = Date.now() + 10_000;
      while (localLog.entries().filter((line) => line.event === 'refresher_run').length < 2) {
        assert.ok(Date.now() < deadline, 'the local run ran its refresher twice within 10 s');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await local.stop();
    }
  });
});
