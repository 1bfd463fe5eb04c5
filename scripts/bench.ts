import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import * as oauth from 'oauth4webapi';
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
import { localTableClient as dynamoDbClient, ensureTokenTable } from '../local/token-table';
import { bundleFunction } from './bundle-function';

/**
 * `npm run bench`: figures from one run on this machine, each beside a baseline measured in the same run.
 * Not a test: nothing here passes or fails; it prints.
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
 * Runs two kinds of work alternately, so that both see the same machine state (JIT, GC, connection pools,
 * other load): the fair way to take a ratio on a shared machine.
 */
async function measurePair(
  count: number,
  subject: (index: number) => Promise<unknown>,
  baseline: (index: number) => Promise<unknown>,
): Promise<[Figures, Figures]> {
  const latencies: [number[], number[]] = [[], []];
  const elapsed = [0, 0];
  for (let index = 0; index < count; index++) {
    for (const [slot, work] of [subject, baseline].entries()) {
      const t0 = performance.now();
      await work(index);
      const took = performance.now() - t0;
      latencies[slot as 0 | 1].push(took);
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
  }) as [Figures, Figures];
}

const vendEvent = (providerId: string, method = 'POST') =>
  proxyEvent({
    method,
    resource: '/v1/tokens/{provider}',
    path: `/v1/tokens/${providerId}`,
    pathParameters: { provider: providerId },
    ...CALLER,
  });

async function vendOk(handler: ApiHandler, providerId = 'bench'): Promise<void> {
  const response = await handler(vendEvent(providerId));
  if (response.statusCode !== 200) throw new Error(`vend failed: ${response.statusCode} ${response.body}`);
}

/** Evicts through the API, as a caller would: the next vend is a miss. */
async function evictOk(handler: ApiHandler, providerId = 'bench'): Promise<void> {
  const response = await handler(vendEvent(providerId, 'DELETE'));
  if (response.statusCode !== 204) throw new Error(`evict failed: ${response.statusCode} ${response.body}`);
}

const row = (name: string, figures: Figures) =>
  `${name.padEnd(38)} ${String(figures.count).padStart(6)} ${figures.perSecond.toFixed(0).padStart(9)} ${figures.p50.toFixed(3).padStart(9)} ${figures.p99.toFixed(3).padStart(9)}`;

async function bundleFigures(): Promise<{ bytes: number; initMs: number[] }> {
  const outdir = join(ROOT, '.cache', 'bench-bundle');
  await bundleFunction(outdir, { providers: [] });
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(join(outdir, 'index.js'))});console.log(Number(process.hrtime.bigint()-t)/1e6)`;
  const initMs = Array.from({ length: 5 }, () =>
    Number(
      execFileSync(process.execPath, ['-e', script], {
        env: {
          ...process.env,
          TVM_TABLE: 'bench',
          TVM_SEALING_KEY_ID: 'alias/bench',
          AWS_REGION: 'us-east-1',
          NODE_NO_WARNINGS: '1',
        },
      })
        .toString()
        .trim(),
    ),
  ).sort((a, b) => a - b);
  return { bytes: statSync(join(outdir, 'index.js')).size, initMs };
}

async function main(): Promise<void> {
  const dynamo = await startDynamoDbLocal();
  const client = { clientId: 'bench-client', clientSecret: 'bench-client-secret-value' };
  const server = await startAuthorizationServer({
    clients: [
      {
        client_id: client.clientId,
        client_secret: client.clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
  });
  const db = dynamoDbClient(dynamo.endpoint);
  const tableName = 'bench-tokens';
  try {
    await ensureTokenTable(db, tableName);
    const providers = parseProviderConfig(
      {
        providers: [
          {
            id: 'bench',
            tokenEndpoint: server.tokenEndpoint,
            clientAuth: 'client_secret_basic',
            secretId: 'bench/secret',
            defaultScopes: ['demo.read'],
            allowedScopes: ['demo.read', 'demo.write'],
            callers: [CALLER.principalArn],
          },
        ],
      },
      'bench providers',
      'local',
    );
    const credentials = new StaticCredentialSource({
      'bench/secret': { client_id: client.clientId, client_secret: client.clientSecret },
    });
    // Data keys as KMS would give them; each call counted, as each would be a KMS request in AWS.
    const dataKeys = new LocalDataKeys(localWrappingKey());
    const instance = (memory?: MemoryTokenStore, shared = true) =>
      composeService({
        providers,
        credentials,
        log: silent,
        endpoints: 'local',
        // Each instance its own sealer and data-key cache, as each container has.
        ...(shared ? { dynamoDb: db, tableName, sealer: new EnvelopeSealer({ dataKeys }) } : {}),
        ...(memory ? { memory } : {}),
      }).handler;
    const key = cacheKey({
      providerId: 'bench',
      tokenEndpoint: server.tokenEndpoint,
      clientId: client.clientId,
      scopes: ['demo.read'],
    });
    const forget = () => db.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: key } } }));
    const noMemory = () => new MemoryTokenStore({ maxAgeSeconds: 0 });

    // Warm up the JIT, the SDK's connection pool and the server.
    const warm = instance();
    for (let i = 0; i < 50; i++) await vendOk(warm);

    const memoryHits = await measure(5000, () => vendOk(warm));
    const tableHandler = instance(noMemory());
    await measure(100, () => vendOk(tableHandler));
    const keyCallsBefore = dataKeys.calls;
    const [tableHits, rawGet] = await measurePair(
      1000,
      () => vendOk(tableHandler),
      () =>
        db.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true })),
    );

    const keyCallsPerThousandHits = ((dataKeys.calls - keyCallsBefore) / tableHits.count) * 1000;
    const missHandler = instance(noMemory());
    const aloneHandler = instance(noMemory(), false);
    const as: oauth.AuthorizationServer = { issuer: server.issuer, token_endpoint: server.tokenEndpoint };
    const oauthClient: oauth.Client = { client_id: client.clientId };
    const directGrant = async () => {
      const response = await oauth.clientCredentialsGrantRequest(
        as,
        oauthClient,
        oauth.ClientSecretBasic(client.clientSecret),
        new URLSearchParams({ scope: 'demo.read' }),
        { [oauth.allowInsecureRequests]: true },
      );
      await oauth.processClientCredentialsResponse(as, oauthClient, response);
    };
    // A miss with the shared table: the evict that makes it a miss, then the vend (table read, lease,
    // upstream grant, token write). Its baseline does the same DeleteItem and one direct grant.
    const [misses, direct] = await measurePair(
      200,
      async () => {
        await forget();
        await vendOk(missHandler);
      },
      async () => {
        await forget();
        await directGrant();
      },
    );
    // The same pipeline without the shared table: what the service adds to a bare grant.
    const [missesAlone, directAlone] = await measurePair(
      200,
      async () => {
        await evictOk(aloneHandler);
        await vendOk(aloneHandler);
      },
      directGrant,
    );

    // A burst of N concurrent vends of a cold key over K instances sharing the table, against K services
    // that each cache for themselves (no shared table).
    const burst = async (instances: ApiHandler[], n: number) => {
      await forget();
      const before = server.tokenRequests();
      await Promise.all(
        Array.from({ length: n }, (_, i) => vendOk(instances[i % instances.length] as ApiHandler)),
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
        Array.from({ length: k }, () => instance(undefined, false)),
        n,
      );
      bursts.push([n, k, shared, alone]);
    }
    const bundle = await bundleFigures();

    const lines = [
      `Token vending benchmark — node ${process.version}, ${new Date().toISOString()}`,
      '',
      `${'handler-level, sequential'.padEnd(38)} ${'count'.padStart(6)} ${'vends/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)}`,
      row('memory hit', memoryHits),
      row('table hit (DynamoDB Local)', tableHits),
      row('  baseline: raw GetItem', rawGet),
      row('miss (evict + vend)', misses),
      row('  baseline: evict + direct grant', direct),
      row('miss without a shared table', missesAlone),
      row('  baseline: direct oauth4webapi grant', directAlone),
      '',
      `table hit (with unsealing) / raw GetItem (p50): ${(tableHits.p50 / rawGet.p50).toFixed(2)}x`,
      `KMS calls (data-key requests) per 1,000 table hits: ${keyCallsPerThousandHits.toFixed(1)}`,
      `miss / (evict + direct oauth4webapi) (p50):    ${(misses.p50 / direct.p50).toFixed(2)}x`,
      `miss without table / direct oauth4webapi (p50): ${(missesAlone.p50 / directAlone.p50).toFixed(2)}x`,
      `memory hit / table hit (p50):                 ${(memoryHits.p50 / tableHits.p50).toFixed(3)}x`,
      '',
      'upstream requests for a burst of N concurrent vends of a cold key over K instances:',
      ...bursts.map(
        ([n, k, shared, alone]) =>
          `  N=${n} K=${k}: shared table ${shared}   baseline (each instance caches alone) ${alone}`,
      ),
      '',
      `bundle: ${(bundle.bytes / 1024).toFixed(1)} KiB minified (AWS SDK from the runtime)`,
      `module init (require of the bundle, 5 runs): median ${bundle.initMs[2]?.toFixed(1)} ms, min ${bundle.initMs[0]?.toFixed(1)} ms, max ${bundle.initMs[4]?.toFixed(1)} ms`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    db.destroy();
    await server.close();
    await dynamo.stop();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
