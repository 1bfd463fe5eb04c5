import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  TransactWriteItemsCommand,
  type Update,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import * as oauth from 'oauth4webapi';
import { RandomCounterKey } from '../lambda/budget/caller-counter-names';
import { cacheKey } from '../lambda/cache/cache-key';
import { MemoryTokenStore } from '../lambda/cache/memory-token-store';
import { EnvelopeSealer } from '../lambda/cache/token-sealer';
import { composeService } from '../lambda/compose';
import { parseProviderConfig } from '../lambda/config/load-providers';
import { StaticCredentialSource } from '../lambda/credentials/static-credential-source';
import type { ApiHandler } from '../lambda/handler';
import type { Log } from '../lambda/logging';
import { startAuthorizationServer } from '../local/demo-authorization-server';
import { startDynamoDbLocal } from '../local/dynamodb-local';
import { LocalDataKeys } from '../local/local-data-keys';
import { proxyEvent } from '../local/proxy-event';
import { localWrappingKey } from '../local/sealing';
import { ensureTokenTable } from '../local/token-table';
import { benchRefresh } from './bench-refresh';
import { benchSigning } from './bench-signing';
import { bundleFunction } from './bundle-function';
import { countingClient } from './counting-client';

/**
 * `npm run bench`: figures from one run on this machine, each beside a baseline of the same operations
 * measured raw in the same run, and the goal it is read against. Not a test: nothing here fails; it prints.
 */
const ROOT = join(__dirname, '..');
const CALLER = { accessKeyId: 'AKIABENCH00000000001', principalArn: 'arn:aws:iam::111122223333:role/bench' };
const silent: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Figures {
  readonly count: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

/** Runs `work` `count` times one after another and reports per-call latency in ms. */
async function measure(count: number, work: (index: number) => Promise<unknown>): Promise<Figures> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let index = 0; index < count; index++) {
    const t0 = performance.now();
    await work(index);
    latencies.push(performance.now() - t0);
  }
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return {
    count,
    perSecond: (count / elapsed) * 1000,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

/**
 * Runs several kinds of work in turn, call by call, so that all see the same machine state (JIT, GC,
 * connection pools, other load): the fair way to take a ratio on a shared machine.
 */
async function measureInterleaved(
  count: number,
  works: ReadonlyArray<(index: number) => Promise<unknown>>,
  /** Untimed, before each round: what makes the next calls what their labels say (a cold key, say). */
  setup: (index: number) => Promise<unknown> = async () => undefined,
): Promise<Figures[]> {
  const latencies: number[][] = works.map(() => []);
  const elapsed = works.map(() => 0);
  for (let index = 0; index < count; index++) {
    await setup(index);
    for (const [slot, work] of works.entries()) {
      const t0 = performance.now();
      await work(index);
      const took = performance.now() - t0;
      latencies[slot]?.push(took);
      elapsed[slot] = (elapsed[slot] ?? 0) + took;
    }
  }
  return latencies.map((list, slot) => {
    list.sort((a, b) => a - b);
    return {
      count,
      perSecond: (count / (elapsed[slot] ?? 1)) * 1000,
      p50: percentile(list, 0.5),
      p99: percentile(list, 0.99),
    };
  });
}

/** Two kinds of work, alternately (see {@link measureInterleaved}). */
async function measurePair(
  count: number,
  subject: (index: number) => Promise<unknown>,
  baseline: (index: number) => Promise<unknown>,
  setup?: (index: number) => Promise<unknown>,
): Promise<[Figures, Figures]> {
  const [first, second] = await measureInterleaved(count, [subject, baseline], setup);
  return [first as Figures, second as Figures];
}

const vendEvent = (providerId: string, scope?: string) =>
  proxyEvent({
    method: 'POST',
    resource: '/v1/tokens/{provider}',
    path: `/v1/tokens/${providerId}`,
    pathParameters: { provider: providerId },
    ...(scope ? { body: JSON.stringify({ scope }) } : {}),
    ...CALLER,
  });

async function vendOk(handler: ApiHandler, providerId = 'bench', scope?: string): Promise<void> {
  const response = await handler(vendEvent(providerId, scope));
  if (response.statusCode !== 200) throw new Error(`vend failed: ${response.statusCode} ${response.body}`);
}

const row = (name: string, figures: Figures) =>
  `${name.padEnd(38)} ${String(figures.count).padStart(6)} ${figures.perSecond.toFixed(0).padStart(9)} ${figures.p50.toFixed(3).padStart(9)} ${figures.p99.toFixed(3).padStart(9)}`;

/**
 * Module init of a script in a fresh process, in ms: `require` of it, timed inside the process, as wall
 * time and as the CPU time the process spent on it (the work itself, which other load on a shared machine
 * delays but does not add to).
 */
function initMs(path: string, env: NodeJS.ProcessEnv): { wall: number; cpu: number } {
  const script = `const c=process.cpuUsage();const t=process.hrtime.bigint();require(${JSON.stringify(path)});const u=process.cpuUsage(c);console.log(Number(process.hrtime.bigint()-t)/1e6, (u.user+u.system)/1000)`;
  const [wall, cpu] = execFileSync(process.execPath, ['-e', script], {
    env: { ...process.env, ...env, NODE_NO_WARNINGS: '1' },
  })
    .toString()
    .trim()
    .split(' ')
    .map(Number);
  return { wall: wall ?? Number.NaN, cpu: cpu ?? Number.NaN };
}

/**
 * The bundle's size and module init, against a bare process requiring the same SDK clients (which Lambda's
 * runtime provides and the bundle leaves out): what the service's own code adds to a cold start.
 */
async function bundleFigures(): Promise<{
  bytes: number;
  initMs: number[];
  bareMs: number[];
  initCpuMs: number[];
  bareCpuMs: number[];
}> {
  const outdir = join(ROOT, '.cache', 'bench-bundle');
  await bundleFunction(outdir, { providers: [] });
  const bare = join(outdir, 'bare-sdk-clients.js');
  writeFileSync(
    bare,
    ['client-dynamodb', 'client-kms', 'client-secrets-manager', 'client-sqs']
      .map((name) => `require(${JSON.stringify(require.resolve(`@aws-sdk/${name}`))});`)
      .join('\n'),
  );
  const env = {
    TVM_TABLE: 'bench',
    TVM_SEALING_KEY_ID: 'alias/bench',
    TVM_COUNTER_KEY_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:bench',
    TVM_ANY_CALLER_ACCOUNTS: '111122223333',
    AWS_REGION: 'us-east-1',
  };
  const initRuns: Array<{ wall: number; cpu: number }> = [];
  const bareRuns: Array<{ wall: number; cpu: number }> = [];
  // Alternated, so both see the same machine.
  for (let run = 0; run < 9; run++) {
    initRuns.push(initMs(join(outdir, 'index.js'), env));
    bareRuns.push(initMs(bare, env));
  }
  const sorted = (list: number[]) => list.sort((a, b) => a - b);
  return {
    bytes: statSync(join(outdir, 'index.js')).size,
    initMs: sorted(initRuns.map((run) => run.wall)),
    bareMs: sorted(bareRuns.map((run) => run.wall)),
    initCpuMs: sorted(initRuns.map((run) => run.cpu)),
    bareCpuMs: sorted(bareRuns.map((run) => run.cpu)),
  };
}

const MISS_COUNT = 200;
/** A scope per cold key: every miss below asks for a key nobody asked for before, on warm connections. */
const coldScopes = Array.from({ length: 2 * MISS_COUNT + 10 }, (_, index) => `cold.${index}`);
// Long enough to be cached (a token arriving with 10 s or less left is not), short enough for a few lifetimes.
const ROLLOVER_LIFETIME_S = 20;
const ROLLOVER_RUN_S = 3 * ROLLOVER_LIFETIME_S;
/** The refresher's period in the bench: a few seconds, as the 20 s tokens are a third of the stack's minute. */
const REFRESH_PERIOD_S = 2;

/** Counts the request lines of vends that asked the provider themselves: a caller who waited for it. */
class WaitCountingLog implements Log {
  waits = 0;
  vends = 0;
  info(message: string, ...attributes: Record<string, unknown>[]): void {
    if (message !== 'request') return;
    this.vends += 1;
    if (attributes.some((fields) => typeof fields.upstream_attempts === 'number')) this.waits += 1;
  }
  warn(): void {}
  error(): void {}
}

async function main(): Promise<void> {
  const dynamo = await startDynamoDbLocal();
  const client = { clientId: 'bench-client', clientSecret: 'bench-client-secret-value' };
  const clients = [
    {
      client_id: client.clientId,
      client_secret: client.clientSecret,
      token_endpoint_auth_method: 'client_secret_basic' as const,
    },
  ];
  const scopes = ['demo.read', 'demo.write', ...coldScopes];
  const server = await startAuthorizationServer({ clients, scopes });
  const shortLived = await startAuthorizationServer({
    clients,
    accessTokenTtlSeconds: ROLLOVER_LIFETIME_S,
  });
  const db = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const tableName = 'bench-tokens';
  try {
    await ensureTokenTable(db, tableName);
    // The bench's own budget: it makes thousands of upstream requests a minute as one caller, on purpose.
    const upstreamBudget = {
      perCallerPerMinute: 100_000,
      perMinute: 1_000_000,
      evictionsPerCallerPerMinute: 10_000,
    };
    const providers = parseProviderConfig(
      {
        providers: [
          {
            id: 'bench',
            tokenEndpoint: server.tokenEndpoint,
            clientAuth: 'client_secret_basic',
            secretId: 'bench/secret',
            defaultScopes: ['demo.read'],
            allowedScopes: scopes,
            callers: [CALLER.principalArn],
            upstreamBudget,
          },
          {
            id: 'rollover',
            tokenEndpoint: shortLived.tokenEndpoint,
            clientAuth: 'client_secret_basic',
            secretId: 'bench/secret',
            defaultScopes: ['demo.read'],
            allowedScopes: ['demo.read'],
            callers: [CALLER.principalArn],
            refreshMarginSeconds: 5,
            upstreamBudget,
          },
        ],
      },
      'bench providers',
      'local',
    );
    const credentials = new StaticCredentialSource({
      'bench/secret': { client_id: client.clientId, client_secret: client.clientSecret },
    });
    const counterKey = new RandomCounterKey();
    // Data keys as KMS would give them; each call counted, as each would be a KMS request in AWS.
    const dataKeys = new LocalDataKeys(localWrappingKey());
    type InstanceOptions = {
      memory?: MemoryTokenStore;
      table?: boolean;
      log?: Log;
      dynamoDb?: DynamoDBClient;
      refreshPeriodSeconds?: number;
    };
    const service = (options: InstanceOptions = {}) =>
      composeService({
        providers,
        credentials,
        counterKey,
        log: options.log ?? silent,
        endpoints: 'local',
        // Each instance its own sealer and data-key cache, as each container has.
        ...(options.table === false
          ? {}
          : {
              shared: {
                dynamoDb: options.dynamoDb ?? db,
                tableName,
                sealer: new EnvelopeSealer({ dataKeys }),
              },
            }),
        ...(options.memory ? { memory: options.memory } : {}),
        ...(options.refreshPeriodSeconds ? { refreshPeriodSeconds: options.refreshPeriodSeconds } : {}),
      });
    const instance = (options: InstanceOptions = {}) => service(options).handler;
    const key = cacheKey({
      providerId: 'bench',
      tokenEndpoint: server.tokenEndpoint,
      clientId: client.clientId,
      scopes: ['demo.read'],
    });
    const noMemory = () => new MemoryTokenStore({ maxAgeSeconds: 0 });

    // Warm up the JIT, the SDK's connection pool and the server.
    const warm = instance();
    for (let i = 0; i < 50; i++) await vendOk(warm);

    const memoryHits = await measure(5000, () => vendOk(warm));
    const tableHandler = instance({ memory: noMemory() });
    await measure(100, () => vendOk(tableHandler));
    const keyCallsBefore = dataKeys.calls;
    const [tableHits, rawGet] = await measurePair(
      1000,
      () => vendOk(tableHandler),
      () =>
        db.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true })),
    );
    const keyCallsPerThousandHits = ((dataKeys.calls - keyCallsBefore) / tableHits.count) * 1000;

    const as: oauth.AuthorizationServer = { issuer: server.issuer, token_endpoint: server.tokenEndpoint };
    const oauthClient: oauth.Client = { client_id: client.clientId };
    const directGrant = async (scope: string) => {
      const response = await oauth.clientCredentialsGrantRequest(
        as,
        oauthClient,
        oauth.ClientSecretBasic(client.clientSecret),
        new URLSearchParams({ scope }),
        { [oauth.allowInsecureRequests]: true },
      );
      await oauth.processClientCredentialsResponse(as, oauthClient, response);
    };
    // A miss's own floor with the shared table: the read that finds nothing, the conditional lease, the
    // grant, and the conditional write that stores the token and ends the lease.
    const floorKey = { pk: { S: 'bench#floor' } };
    const floor = async (scope: string) => {
      await db.send(new GetItemCommand({ TableName: tableName, Key: floorKey, ConsistentRead: true }));
      await db.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: floorKey,
          UpdateExpression: 'SET #owner = :owner, #leaseUntil = :until',
          ConditionExpression: 'attribute_not_exists(#version)',
          ExpressionAttributeNames: { '#owner': 'owner', '#leaseUntil': 'leaseUntil', '#version': 'version' },
          ExpressionAttributeValues: {
            ':owner': { S: 'bench' },
            ':until': { N: String(Date.now() + 12_000) },
          },
        }),
      );
      await directGrant(scope);
      await db.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: floorKey,
          UpdateExpression: 'SET #token = :token REMOVE #owner, #leaseUntil',
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner', '#leaseUntil': 'leaseUntil', '#token': 'token' },
          ExpressionAttributeValues: { ':owner': { S: 'bench' }, ':token': { S: 'x'.repeat(900) } },
        }),
      );
    };
    // The same floor with what a miss adds to it, done raw: the lease and two budget counters in one
    // transaction (each conditional), the in-use mark beside the token's write. What the engine charges for
    // the guarantees, whatever the service's own code does.
    const counter = (pk: string): Update => ({
      TableName: tableName,
      Key: { pk: { S: pk } },
      UpdateExpression: 'ADD #spent :one SET #expiresAt = :expiresAt',
      ConditionExpression: 'attribute_not_exists(#spent) OR #spent < :limit',
      ExpressionAttributeNames: { '#spent': 'spent', '#expiresAt': 'expiresAt' },
      ExpressionAttributeValues: {
        ':one': { N: '1' },
        ':limit': { N: '1000000000' },
        ':expiresAt': { N: String(Math.floor(Date.now() / 1000) + 3600) },
      },
    });
    const floorWithAccounting = async (scope: string) => {
      await db.send(new GetItemCommand({ TableName: tableName, Key: floorKey, ConsistentRead: true }));
      await db.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Update: {
                TableName: tableName,
                Key: floorKey,
                UpdateExpression: 'SET #owner = :owner, #leaseUntil = :until',
                ConditionExpression: 'attribute_not_exists(#version)',
                ExpressionAttributeNames: {
                  '#owner': 'owner',
                  '#leaseUntil': 'leaseUntil',
                  '#version': 'version',
                },
                ExpressionAttributeValues: {
                  ':owner': { S: 'bench' },
                  ':until': { N: String(Date.now() + 12_000) },
                },
              },
            },
            { Update: counter('bench#floor#caller') },
            { Update: counter('bench#floor#all') },
          ],
        }),
      );
      await directGrant(scope);
      await Promise.all([
        db.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: floorKey,
            UpdateExpression: 'SET #token = :token REMOVE #owner, #leaseUntil',
            ConditionExpression: '#owner = :owner',
            ExpressionAttributeNames: { '#owner': 'owner', '#leaseUntil': 'leaseUntil', '#token': 'token' },
            ExpressionAttributeValues: { ':owner': { S: 'bench' }, ':token': { S: 'x'.repeat(900) } },
          }),
        ),
        db.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: { pk: { S: 'bench#floor#mark' } },
            UpdateExpression: 'ADD #marks :mark',
            ExpressionAttributeNames: { '#marks': 'marks' },
            ExpressionAttributeValues: { ':mark': { SS: [`${scope}#${Date.now()}`] } },
          }),
        ),
      ]);
    };
    const forgetFloor = () => db.send(new DeleteItemCommand({ TableName: tableName, Key: floorKey }));
    let cold = 0;
    const missTable = countingClient(dynamo.endpoint);
    const missHandler = instance({ memory: noMemory(), dynamoDb: missTable.client });
    const [misses, floors, accountedFloors] = (await measureInterleaved(
      MISS_COUNT,
      [
        () => vendOk(missHandler, 'bench', coldScopes[cold] as string),
        () => floor(coldScopes[cold] as string),
        async () => {
          await forgetFloor();
          await floorWithAccounting(coldScopes[cold] as string);
        },
      ],
      async () => {
        cold += 1;
        await forgetFloor();
      },
    )) as [Figures, Figures, Figures];
    const callsPerMiss = [...missTable.calls.entries()]
      .map(([name, calls]) => `${(calls / MISS_COUNT).toFixed(2)} ${name}`)
      .join(' + ');
    const tableCallsPerMiss =
      [...missTable.calls.values()].reduce((sum, calls) => sum + calls, 0) / MISS_COUNT;
    missTable.client.destroy();
    // Without the shared table: the service's pipeline in one container against a bare grant.
    const aloneHandler = instance({ table: false });
    const [missesAlone, directAlone] = await measurePair(
      MISS_COUNT,
      () => vendOk(aloneHandler, 'bench', coldScopes[cold] as string),
      () => directGrant(coldScopes[cold] as string),
      async () => {
        cold += 1;
      },
    );

    // A burst of N concurrent vends of a cold key over K instances sharing the table, against K services
    // that each cache for themselves (no shared table).
    let burstKey = 0;
    const burst = async (instances: ApiHandler[], n: number) => {
      const scope = coldScopes[coldScopes.length - 1 - burstKey++] as string;
      const before = server.tokenRequests();
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          vendOk(instances[i % instances.length] as ApiHandler, 'bench', scope),
        ),
      );
      return server.tokenRequests() - before;
    };
    const bursts: Array<[number, number, number, number]> = [];
    for (const [n, k] of [
      [200, 4],
      [1000, 10],
    ] as const) {
      const shared = await burst(
        Array.from({ length: k }, () => instance()),
        n,
      );
      const alone = await burst(
        Array.from({ length: k }, () => instance({ table: false })),
        n,
      );
      bursts.push([n, k, shared, alone]);
    }

    // Steady traffic on one key from two instances over several token lifetimes: how many vends waited
    // for the provider. The first vend of a key must; the goal is that no later one does.
    // The refresher runs in process every REFRESH_PERIOD_S, as the stack's schedule does every minute, on a
    // table client of its own that counts its calls.
    const rolloverLog = new WaitCountingLog();
    const steadyServices = [
      service({ log: rolloverLog, refreshPeriodSeconds: REFRESH_PERIOD_S }),
      service({ log: rolloverLog, refreshPeriodSeconds: REFRESH_PERIOD_S }),
    ];
    const steady = steadyServices.map((each) => each.handler);
    const refresherCalls = { reads: 0, writes: 0 };
    const refresherDb = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    refresherDb.middlewareStack.add(
      (next, context) => async (args) => {
        // A transaction (a lease with its budget charges) is one write call.
        if (
          context.commandName === 'UpdateItemCommand' ||
          context.commandName === 'TransactWriteItemsCommand'
        )
          refresherCalls.writes += 1;
        else refresherCalls.reads += 1;
        return next(args);
      },
      { step: 'initialize' },
    );
    const { refresher } = service({ dynamoDb: refresherDb, refreshPeriodSeconds: REFRESH_PERIOD_S });
    const requestsBefore = shortLived.tokenRequests();
    const until = performance.now() + ROLLOVER_RUN_S * 1000;
    const refresherRuns = (async () => {
      while (performance.now() < until) {
        await refresher.refreshDueKeys();
        await new Promise((resolve) => setTimeout(resolve, REFRESH_PERIOD_S * 1000));
      }
    })();
    // Each instance's own renewal queue (the delayed renewals its vends hand over for short tokens) is
    // delivered every second, as the local run polls it and as SQS delivers in Lambda.
    const deliveries = (async () => {
      while (performance.now() < until) {
        await Promise.all(steadyServices.map((each) => each.refresher.deliverRenewals()));
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
    await Promise.all([
      refresherRuns,
      deliveries,
      ...steady.map(async (handler) => {
        while (performance.now() < until) {
          await vendOk(handler, 'rollover');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }),
    ]);
    refresherDb.destroy();
    const rolloverRequests = shortLived.tokenRequests() - requestsBefore;
    const lifetimes = ROLLOVER_RUN_S / ROLLOVER_LIFETIME_S;
    const laterWaits = Math.max(0, rolloverLog.waits - 1);

    const bundle = await bundleFigures();
    const signing = await benchSigning();
    const median = (list: number[]) => list[Math.floor(list.length / 2)] ?? Number.NaN;
    const goal = (ratio: number, limit: number) =>
      `${ratio.toFixed(3)}x (goal <= ${limit}x: ${ratio <= limit ? 'met' : 'NOT met'})`;
    const tableRatio = tableHits.p50 / rawGet.p50;
    const missRatio = misses.p50 / floors.p50;
    const accountingRatio = accountedFloors.p50 / floors.p50;
    const serviceRatio = misses.p50 / accountedFloors.p50;
    const aloneRatio = missesAlone.p50 / directAlone.p50;
    // The goal is read on CPU time: on a machine others load, wall time swings 2x between runs.
    const initRatio = median(bundle.initCpuMs) / median(bundle.bareCpuMs);
    const initWallRatio = median(bundle.initMs) / median(bundle.bareMs);
    const kib = bundle.bytes / 1024;

    const lines = [
      `Token vending benchmark — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${new Date().toISOString()}`,
      '',
      `${'handler-level, sequential'.padEnd(38)} ${'count'.padStart(6)} ${'vends/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)}`,
      row('memory hit', memoryHits),
      row('table hit (sealed item, DynamoDB Local)', tableHits),
      row('  baseline: raw GetItem', rawGet),
      row('miss with table (cold key)', misses),
      row('  floor: Get+Update+grant+Update', floors),
      row('  floor + accounting: Get+Tx3+grant+2 Update', accountedFloors),
      row('miss without table (cold key)', missesAlone),
      row('  baseline: direct oauth4webapi grant', directAlone),
      '',
      `table hit / raw GetItem (p50):                  ${goal(tableRatio, 1.2)}`,
      `miss with table / its own floor (p50):          ${goal(missRatio, 1.2)}`,
      `  floor + accounting / floor (p50):            ${accountingRatio.toFixed(3)}x: what DynamoDB Local charges for the guarantees (below)`,
      `  miss with table / floor + accounting (p50):  ${goal(serviceRatio, 1.2)}`,
      `  table calls per cold miss: ${tableCallsPerMiss.toFixed(2)} (${callsPerMiss}); the floor makes 3`,
      `miss without table / direct grant (p50):        ${goal(aloneRatio, 1.2)}`,
      `sealed hit: KMS calls per 1,000 table hits:     ${keyCallsPerThousandHits.toFixed(1)}`,
      `module init / bare import of the SDK clients:   ${goal(initRatio, 1.3)} (CPU time, median of 9: ${median(bundle.initCpuMs).toFixed(1)} ms vs ${median(bundle.bareCpuMs).toFixed(1)} ms)`,
      `  the same in wall time:                        ${initWallRatio.toFixed(3)}x (${median(bundle.initMs).toFixed(1)} ms vs ${median(bundle.bareMs).toFixed(1)} ms)`,
      `bundle: ${kib.toFixed(1)} KiB minified, AWS SDK from the runtime (goal <= 300 KiB: ${kib <= 300 ? 'met' : 'NOT met'})`,
      '',
      'upstream requests for a burst of N concurrent vends of a cold key over K instances:',
      ...bursts.map(
        ([n, k, shared, alone]) =>
          `  N=${n} K=${k}: shared table ${shared}   baseline (each instance caches alone) ${alone}`,
      ),
      '',
      `steady traffic, 2 instances × 10 vends/s on one key, ${ROLLOVER_LIFETIME_S} s tokens, ${ROLLOVER_RUN_S} s (${lifetimes.toFixed(1)} lifetimes):`,
      `  ${rolloverLog.vends} vends, ${rolloverRequests} upstream requests; caller-visible waits after the first vend: ${laterWaits} = ${(laterWaits / lifetimes).toFixed(2)} per key per lifetime (goal 0: ${laterWaits === 0 ? 'met' : 'NOT met'})`,
      `  refresher (in process, every ${REFRESH_PERIOD_S} s) reads and writes per key per lifetime: ${(refresherCalls.reads / lifetimes).toFixed(1)} reads (of them one BatchGetItem of the due buckets a run), ${(refresherCalls.writes / lifetimes).toFixed(1)} writes`,
      '',
      ...signing,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    // The refresher's own figures (issue 30): simulated on a stepped clock, in a section of their own.
    await benchRefresh({ endpoint: dynamo.endpoint });
  } finally {
    db.destroy();
    await server.close();
    await shortLived.close();
    await dynamo.stop();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
