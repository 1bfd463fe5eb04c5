import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  type AttributeValue,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { RandomCounterKey } from '../lambda/budget/caller-counter-names';
import { cacheKey } from '../lambda/cache/cache-key';
import { KmsDataKeys } from '../lambda/cache/kms-data-keys';
import { EnvelopeSealer } from '../lambda/cache/token-sealer';
import { composeService } from '../lambda/compose';
import { parseProviderConfig } from '../lambda/config/load-providers';
import type { CredentialSource } from '../lambda/credentials/client-credentials';
import { StaticCredentialSource } from '../lambda/credentials/static-credential-source';
import type { ApiHandler } from '../lambda/handler';
import type { Log } from '../lambda/logging';
import { startAuthorizationServer } from '../local/demo-authorization-server';
import { startDynamoDbLocal } from '../local/dynamodb-local';
import { type FaultProxy, startFaultProxy } from '../local/fault-proxy';
import { LocalDataKeys } from '../local/local-data-keys';
import { type FakeProvider, grant, startFakeProvider } from '../local/loopback/fake-provider';
import { proxyEvent } from '../local/proxy-event';
import { localWrappingKey } from '../local/sealing';
import { ensureTokenTable } from '../local/token-table';

/**
 * `npx tsx scripts/fault-figures.ts`: what one key costs when KMS or the table misbehaves, on real parts
 * (DynamoDB Local and a loopback OAuth2 server, a fault proxy in front of each dependency). Run on two
 * commits to compare them; not a test: it prints. `npx tsx scripts/fault-figures.ts lease` runs only the
 * scenarios of a dead lease holder and of a provider's backoff (issue 28).
 */
const CALLER = { accessKeyId: 'AKIAFAULTS0000000001', principalArn: 'arn:aws:iam::111122223333:role/faults' };
const SCOPES = Array.from({ length: 20 }, (_, index) => `s${index}`);
const CLIENT = { clientId: 'faults-client', clientSecret: 'faults-client-secret-value' };
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

interface Recorded {
  readonly events: string[];
}
const recordingLog = (into: Recorded): Log => {
  const note = (_message: string, ...attributes: Record<string, unknown>[]) => {
    for (const fields of attributes) if (typeof fields.event === 'string') into.events.push(fields.event);
  };
  return { info: () => undefined, warn: note, error: note };
};

/** A table client as the function makes it, counting the calls it sends. */
function tableClient(endpoint: string, counts: { calls: number; writes: number }): DynamoDBClient {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials,
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 500, requestTimeout: 1000 },
  });
  client.middlewareStack.add(
    (next, context) => (args) => {
      counts.calls += 1;
      if (context.commandName === 'UpdateItemCommand') counts.writes += 1;
      return next(args);
    },
    { step: 'initialize', name: 'countCalls' },
  );
  return client;
}

const kms = (endpoint: string) =>
  new EnvelopeSealer({
    dataKeys: new KmsDataKeys({
      client: new KMSClient({
        endpoint,
        region: 'us-east-1',
        credentials,
        maxAttempts: 2,
        requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 },
      }),
      keyId: 'alias/faults',
    }),
  });
const localKeys = new LocalDataKeys(localWrappingKey());
const workingSealer = () => new EnvelopeSealer({ dataKeys: localKeys });

const vendEvent = (method: 'POST' | 'DELETE', body?: unknown) =>
  proxyEvent({
    method,
    resource: '/v1/tokens/{provider}',
    path: '/v1/tokens/faults',
    pathParameters: { provider: 'faults' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...CALLER,
  });

interface Answer {
  readonly status: number;
  readonly ms: number;
  readonly retryAfter?: string;
  readonly error?: string;
  readonly token?: string;
}
async function call(
  handler: ApiHandler,
  method: 'POST' | 'DELETE' = 'POST',
  body?: unknown,
): Promise<Answer> {
  const t0 = performance.now();
  const response = await handler(vendEvent(method, body));
  const ms = performance.now() - t0;
  const json = response.body ? (JSON.parse(response.body) as Record<string, unknown>) : {};
  const retryAfter = response.headers?.['retry-after'];
  return {
    status: response.statusCode,
    ms,
    ...(retryAfter === undefined ? {} : { retryAfter: String(retryAfter) }),
    ...(typeof json.error === 'string' ? { error: json.error } : {}),
    ...(typeof json.access_token === 'string' ? { token: json.access_token } : {}),
  };
}

const summary = (answers: readonly Answer[]) => {
  const byStatus = new Map<string, number>();
  for (const answer of answers) {
    const label = `${answer.status}${answer.error ? ` ${answer.error}` : ''}`;
    byStatus.set(label, (byStatus.get(label) ?? 0) + 1);
  }
  const ms = answers.map((answer) => answer.ms).sort((a, b) => a - b);
  const max = ms[ms.length - 1] ?? 0;
  return `${[...byStatus].map(([label, count]) => `${count} × ${label}`).join(', ')}; max ${(max / 1000).toFixed(2)} s`;
};

async function main(): Promise<void> {
  const dynamo = await startDynamoDbLocal();
  const server = await startAuthorizationServer({
    clients: [
      {
        client_id: CLIENT.clientId,
        client_secret: CLIENT.clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: ['demo.read', ...SCOPES],
  });
  const proxies: FaultProxy[] = [];
  const proxy = async (target: string) => {
    const made = await startFaultProxy(target);
    proxies.push(made);
    return made;
  };
  // Nothing listens behind it: a KMS that refuses every connection.
  const nowhere = await proxy('http://127.0.0.1:9');
  nowhere.set({ kind: 'refuse' });
  const hungKms = await proxy('http://127.0.0.1:9');
  hungKms.set({ kind: 'hang' });
  const providers = parseProviderConfig(
    {
      providers: [
        {
          id: 'faults',
          tokenEndpoint: server.tokenEndpoint,
          clientAuth: 'client_secret_basic',
          secretId: 'faults/secret',
          defaultScopes: ['demo.read'],
          allowedScopes: ['demo.read', ...SCOPES],
          callers: [CALLER.principalArn],
          upstreamBudget: { perCallerPerMinute: 1000, perMinute: 1000 },
        },
      ],
    },
    'fault figures',
    'local',
  );
  const secrets = new StaticCredentialSource({
    'faults/secret': { client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret },
  });
  const counterKey = new RandomCounterKey();
  const key = cacheKey({
    providerId: 'faults',
    tokenEndpoint: server.tokenEndpoint,
    clientId: CLIENT.clientId,
    scopes: ['demo.read'],
  });
  const lines: string[] = [];
  const print = (line: string) => {
    lines.push(line);
    console.log(line);
  };

  /** A container: its own memory, sealer and table client, on a table of the run. */
  const container = (
    tableName: string,
    options: {
      endpoint?: string;
      sealer?: EnvelopeSealer;
      counts?: { calls: number; writes: number };
      log?: Recorded;
    } = {},
  ) =>
    composeService({
      providers,
      credentials: secrets,
      log: recordingLog(options.log ?? { events: [] }),
      endpoints: 'local',
      counterKey,
      shared: {
        dynamoDb: tableClient(options.endpoint ?? dynamo.endpoint, options.counts ?? { calls: 0, writes: 0 }),
        tableName,
        sealer: options.sealer ?? workingSealer(),
      },
      tokenClient: { retry: { baseDelayMs: 20, maxDelayMs: 100 } },
    }).handler;
  const admin = tableClient(dynamo.endpoint, { calls: 0, writes: 0 });
  const freshTable = async () => {
    const tableName = `faults-${randomUUID()}`;
    await ensureTokenTable(admin, tableName);
    return tableName;
  };

  try {
    await leaseAndBackoff(dynamo.endpoint, freshTable, print);
    if (process.argv[2] === 'lease') return;
    for (const [label, endpoint] of [
      ['refused', nowhere.endpoint],
      ['hung', hungKms.endpoint],
    ] as const) {
      const tableName = await freshTable();
      const before = server.tokenRequests();
      const containers = Array.from({ length: 5 }, () => container(tableName, { sealer: kms(endpoint) }));
      const wave = () =>
        Promise.all(containers.flatMap((handler) => Array.from({ length: 10 }, () => call(handler))));
      print(
        `KMS ${label}, 5 × 10 cold vends: ${summary(await wave())}; upstream ${server.tokenRequests() - before}`,
      );
      print(`KMS ${label}, second wave:        ${summary(await wave())}`);
      const recovered = await call(container(tableName));
      print(
        `KMS ${label}, then recovered: first cold vend ${recovered.status} in ${(recovered.ms / 1000).toFixed(2)} s`,
      );
    }

    {
      const hung = await proxy(dynamo.endpoint);
      hung.set({ kind: 'hang' });
      const handler = container(await freshTable(), { endpoint: hung.endpoint });
      const misses: Answer[] = [];
      for (const scope of SCOPES.slice(0, 12)) misses.push(await call(handler, 'POST', { scope }));
      const ms = misses.map((answer) => answer.ms);
      print(
        `Hung table, 12 misses: ${summary(misses)}; first ${(ms[0] ?? 0).toFixed(0)} ms, then ${ms
          .slice(1)
          .map((value) => value.toFixed(0))
          .join(' ')} ms`,
      );
    }

    {
      const throttled = await proxy(dynamo.endpoint);
      throttled.set({ kind: 'throttle', errorType: 'ProvisionedThroughputExceededException' });
      const counts = { calls: 0, writes: 0 };
      const handler = container(await freshTable(), { endpoint: throttled.endpoint, counts });
      const misses: Answer[] = [];
      for (const scope of SCOPES.slice(0, 10)) misses.push(await call(handler, 'POST', { scope }));
      const ms = misses.map((answer) => answer.ms).sort((a, b) => a - b);
      print(
        `Throttled table, 10 misses: ${summary(misses)}; p50 ${(ms[5] ?? 0).toFixed(0)} ms; ${(counts.calls / 10).toFixed(1)} table calls per miss`,
      );
    }

    const yearMs = 365 * 24 * 3600_000;
    const shapes: Array<[string, Record<string, AttributeValue>]> = [
      ['version as a number', { version: { N: '7' }, leaseUntil: { N: '0' } }],
      ['leaseUntil as a string', { leaseUntil: { S: String(Date.now() + 5000) } }],
      ['retryAt as a string', { retryAt: { S: String(Date.now() + 5000) } }],
      [
        'leaseUntil a year ahead',
        { owner: { S: 'planted' }, leaseUntil: { N: String(Date.now() + yearMs) } },
      ],
      [
        'retryAt a year ahead',
        {
          retryAt: { N: String(Date.now() + yearMs) },
          lastError: { S: 'upstream_unavailable' },
          failures: { N: '9' },
        },
      ],
      [
        'sealed with an empty wrapped key',
        {
          sealed: { B: Buffer.from([1, 0, 0, ...new Array(28).fill(0), 1]) },
          provider: { S: 'faults' },
          version: { S: 'planted' },
          issuedAt: { N: String(Math.floor(Date.now() / 1000)) },
          expiresAt: { N: String(Math.floor(Date.now() / 1000) + 3600) },
        },
      ],
    ];
    for (const [label, attributes] of shapes) {
      const tableName = await freshTable();
      await admin.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            pk: { S: key },
            expiresAt: { N: String(Math.floor(Date.now() / 1000) + 3600) },
            ...attributes,
          },
        }),
      );
      const counts = { calls: 0, writes: 0 };
      const log: Recorded = { events: [] };
      const first = await call(container(tableName, { counts, log }));
      const firstWrites = counts.writes;
      const second = await call(container(tableName));
      print(
        `Corrupt: ${label.padEnd(33)} ${first.status}${first.error ? ` ${first.error}` : ''} in ${(first.ms / 1000).toFixed(2)} s${
          first.retryAfter ? ` (Retry-After ${first.retryAfter})` : ''
        }, ${firstWrites} writes, events [${[...new Set(log.events)].join(' ')}]; next container ${second.status}`,
      );
    }

    {
      // Budget counters: the provider's shared counter for this minute, written full (and impossible).
      const tableName = await freshTable();
      const windowEndsMs = Math.floor(Date.now() / 60_000) * 60_000 + 60_000;
      await admin.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            pk: { S: `budget#faults#all#${windowEndsMs}` },
            spent: { N: '999999999' },
            expiresAt: { N: String(Math.ceil(windowEndsMs / 1000) + 120) },
          },
        }),
      );
      const answer = await call(container(tableName));
      print(
        `Corrupt: budget counter 999999999                ${answer.status}${answer.error ? ` ${answer.error}` : ''}${
          answer.retryAfter ? ` (Retry-After ${answer.retryAfter})` : ''
        }`,
      );
    }

    {
      // An evicted token put back by a table writer: the item as it was before the evict, re-put whole.
      const tableName = await freshTable();
      const first = container(tableName);
      const vended = await call(first);
      const { Item: before } = await admin.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
      );
      const { tokenFingerprint } = await import('../packages/client/src/wire-contract');
      // Old enough to evict: the service refuses to evict a token younger than 15 s, so this scenario waits.
      await new Promise((resolve) => setTimeout(resolve, 15_500));
      const evicted = await call(first, 'DELETE', {
        token_fingerprint: tokenFingerprint(vended.token ?? ''),
      });
      const { Item: afterEvict } = await admin.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
      );
      // The writer restores the token's attributes onto the evicted item (what the evict left stays).
      if (before) {
        await admin.send(
          new PutItemCommand({
            TableName: tableName,
            Item: { ...afterEvict, ...before, ...restoreKeep(afterEvict) },
          }),
        );
      }
      const again = await call(container(tableName));
      print(
        `Evicted token put back: evict ${evicted.status}; a fresh container ${
          again.token === vended.token ? 'served the evicted token' : 'did not serve it'
        } (${again.status})`,
      );
    }
  } finally {
    for (const made of proxies) await made.close();
    await server.close();
    await dynamo.stop();
  }
}

/**
 * Issue 28's scenarios, on in-process containers sharing one table and a scripted provider: a lease holder
 * killed mid-fetch with 20 vends waiting on other containers; a provider's Retry-After (30 s with six callers,
 * 7 s with two containers); four scopes of a provider that is down. Times are wall-clock, except where a
 * scenario moves the containers' shared clock on (said in its line).
 */
async function leaseAndBackoff(
  endpoint: string,
  freshTable: () => Promise<string>,
  print: (line: string) => void,
): Promise<void> {
  const provider: FakeProvider = await startFakeProvider();
  let offsetMs = 0;
  const now = () => Date.now() + offsetMs;
  let providerSeq = 0;
  const entry = () => {
    providerSeq += 1;
    return parseProviderConfig(
      {
        providers: [
          {
            id: `lease${providerSeq}`,
            tokenEndpoint: provider.tokenEndpoint,
            clientAuth: 'client_secret_post',
            secretId: 'lease/secret',
            defaultScopes: ['s1'],
            allowedScopes: ['s1', 's2', 's3', 's4'],
            callers: [CALLER.principalArn],
            upstreamBudget: { perCallerPerMinute: 1000, perMinute: 1000 },
          },
        ],
      },
      'lease figures',
      'local',
    );
  };
  const secret = { 'lease/secret': { client_id: 'lease-client', client_secret: 'lease-client-secret' } };
  const container = (
    providers: ReturnType<typeof parseProviderConfig>,
    tableName: string,
    credentials: CredentialSource = new StaticCredentialSource(secret),
  ) =>
    composeService({
      providers,
      credentials,
      log: recordingLog({ events: [] }),
      endpoints: 'local',
      shared: {
        dynamoDb: tableClient(endpoint, { calls: 0, writes: 0 }),
        tableName,
        sealer: workingSealer(),
      },
      now,
    }).handler;
  const vend = (handler: ApiHandler, providerId: string, scope?: string) => {
    const t0 = performance.now();
    return handler(
      proxyEvent({
        method: 'POST',
        resource: '/v1/tokens/{provider}',
        path: `/v1/tokens/${providerId}`,
        pathParameters: { provider: providerId },
        ...(scope === undefined ? {} : { body: JSON.stringify({ scope }) }),
        ...CALLER,
      }),
    ).then((response): Answer => {
      const json = response.body ? (JSON.parse(response.body) as Record<string, unknown>) : {};
      const retryAfter = response.headers?.['retry-after'];
      return {
        status: response.statusCode,
        ms: performance.now() - t0,
        ...(retryAfter === undefined ? {} : { retryAfter: String(retryAfter) }),
        ...(typeof json.error === 'string' ? { error: json.error } : {}),
      };
    });
  };
  const retryAfters = (answers: readonly Answer[]) =>
    `Retry-After [${answers.map((answer) => answer.retryAfter ?? '-').join(' ')}]`;

  try {
    for (const others of [2, 3]) {
      // The holder's secret read hangs: its work never completes, as in a container killed mid-fetch.
      const providers = entry();
      const providerId = providers[0]?.id ?? '';
      const tableName = await freshTable();
      let reads = 0;
      let entered: () => void = () => undefined;
      const stuck = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const dying: CredentialSource = {
        get: async () => {
          reads += 1;
          if (reads === 1) return { clientId: 'lease-client', clientSecret: 'lease-client-secret' };
          entered();
          return new Promise(() => undefined);
        },
        clientId: async () => 'lease-client',
        invalidate: () => undefined,
      };
      // The provider takes 4 s to answer, as in the issue's run: the takeover's fetch is not instant.
      provider.setBehaviour((_request, index) => ({ ...grant(`taken-over-${index}`), delayMs: 4000 }));
      const before = provider.requests.length;
      void vend(container(providers, tableName, dying), providerId);
      await stuck;
      const waiting = Array.from({ length: others }, () => container(providers, tableName));
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, index) => vend(waiting[index % others] as ApiHandler, providerId)),
      );
      print(
        `Dead lease holder, 20 vends waiting on ${others} other containers: ${summary(answers)}; upstream ${provider.requests.length - before}`,
      );
    }

    {
      provider.setBehaviour(() => ({
        status: 429,
        headers: { 'retry-after': '30' },
        body: { error: 'slow_down' },
      }));
      const providers = entry();
      const providerId = providers[0]?.id ?? '';
      const tableName = await freshTable();
      const both = [container(providers, tableName), container(providers, tableName)];
      const before = provider.requests.length;
      const asked: string[] = [];
      const answers: Answer[] = [];
      const startMs = now();
      // Six callers over two containers and three scopes, at 0, 1, 2, 4, 8 and 16 s of the containers' clock.
      for (const [index, at] of [0, 1, 2, 4, 8, 16].entries()) {
        offsetMs += startMs + at * 1000 - now();
        const seen = provider.requests.length;
        answers.push(await vend(both[index % 2] as ApiHandler, providerId, `s${(index % 3) + 1}`));
        for (let request = seen; request < provider.requests.length; request++) asked.push(`${at}`);
      }
      print(
        `Retry-After 30, six callers over 30 s (clock moved): ${summary(answers)}; provider asked ${provider.requests.length - before} times (at ${asked.join(', ')} s); ${retryAfters(answers)}`,
      );
    }

    {
      const providers = entry();
      const providerId = providers[0]?.id ?? '';
      const tableName = await freshTable();
      const [holder, other] = [container(providers, tableName), container(providers, tableName)];
      let asked = 0;
      let firstAsked: () => void = () => undefined;
      const holderAsked = new Promise<void>((resolve) => {
        firstAsked = resolve;
      });
      const times: number[] = [];
      const t0 = performance.now();
      provider.setBehaviour(async () => {
        asked += 1;
        times.push(performance.now() - t0);
        firstAsked();
        // Answers once the other container's callers are waiting on the holder's lease.
        await new Promise((resolve) => setTimeout(resolve, 100));
        return { status: 429, headers: { 'retry-after': '7' }, body: { error: 'slow_down' } };
      });
      const held = vend(holder as ApiHandler, providerId);
      await holderAsked;
      const answers = await Promise.all([
        held,
        ...Array.from({ length: 5 }, () => vend(other as ApiHandler, providerId)),
      ]);
      print(
        `Retry-After 7, holder + 5 waiting in another container: ${summary(answers)}; provider asked ${asked} times (at ${times.map((ms) => (ms / 1000).toFixed(2)).join(', ')} s); ${retryAfters(answers)}`,
      );
    }

    {
      provider.setBehaviour(() => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
      const providers = entry();
      const providerId = providers[0]?.id ?? '';
      const tableName = await freshTable();
      const both = [container(providers, tableName), container(providers, tableName)];
      const scopes = ['s1', 's2', 's3', 's4'];
      const before = provider.requests.length;
      const first = await Promise.all(
        scopes.map((scope, index) => vend(both[index % 2] as ApiHandler, providerId, scope)),
      );
      const firstAsked = provider.requests.length - before;
      // Then each scope vended on both containers once a second for 60 s of the containers' clock.
      const startMs = now();
      const later: Answer[] = [];
      for (let second = 1; second <= 60; second++) {
        offsetMs += startMs + second * 1000 - now();
        later.push(
          ...(await Promise.all(
            scopes.flatMap((scope) => both.map((handler) => vend(handler as ApiHandler, providerId, scope))),
          )),
        );
      }
      print(
        `Provider down, 4 scopes at once over 2 containers: ${summary(first)}; ${firstAsked} requests; ${retryAfters(first)}`,
      );
      print(
        `Provider down, then 8 vends a second for 60 s (clock moved): ${summary(later)}; ${provider.requests.length - before - firstAsked} requests`,
      );
    }
  } finally {
    await provider.close();
  }
}

/** The attributes an evict leaves that a writer replaying the token's attributes does not remove. */
function restoreKeep(item: Record<string, AttributeValue> | undefined): Record<string, AttributeValue> {
  const kept: Record<string, AttributeValue> = {};
  for (const name of ['floor']) {
    const value = item?.[name];
    if (value) kept[name] = value;
  }
  return kept;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
