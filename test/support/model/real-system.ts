import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RandomCounterKey } from '../../../lambda/budget/caller-counter-names';
import { KmsDataKeys } from '../../../lambda/cache/kms-data-keys';
import { EnvelopeSealer } from '../../../lambda/cache/token-sealer';
import { composeService } from '../../../lambda/compose';
import { parseProviderConfig } from '../../../lambda/config/load-providers';
import type { TableRegions } from '../../../lambda/contracts/region-owned-items';
import { StaticCredentialSource } from '../../../lambda/credentials/static-credential-source';
import type { Refresher, RefreshReport } from '../../../lambda/refresher';
import { type LocalGateway, startLocalGateway } from '../../../local/local-gateway';
import {
  type FakeProvider,
  type RecordedRequest,
  type Reply,
  startFakeProvider,
} from '../../../local/loopback/fake-provider';
import {
  type KmsEndpoint,
  kmsClient,
  multiRegionKey,
  startKmsEndpoint,
} from '../../../local/loopback/kms-endpoint';
import type { CallerKey } from '../../../local/sigv4-verifier';
import { EVICT_OUTCOME_HEADER } from '../../../packages/client/src/wire-contract';
import { createTestTable, type TestTable } from '../dynamodb';
import { RecordingLog } from '../recording-log';
import { deliver, type RecordedTable, recordWrites } from '../replication';
import { type CallResult, signedFetch } from '../sigv4-client';
import { BILLING, ORDERS, ORDERS_ROLE, OUTSIDER } from '../test-service';
import { ModelClock } from './model-clock';

/**
 * The real system of the key-lifecycle model: two regions, each a table of its own in DynamoDB Local and a
 * loopback KMS holding one multi-Region key, joined by the replicating stand-in; three instances (A and B
 * in the north, C in the west), each a whole composed service behind the local gateway, called with real
 * SigV4; one scripted provider. Faults are switched here and nowhere else.
 *
 * The table faults are injected by a middleware on the region's DynamoDB client, the one fault injection
 * that is not a local part: the fault proxy (local/fault-proxy.ts) decides per connection, and the SDK's
 * pooled connections would carry on past a switch.
 */

export type Region = 'north' | 'west';
export const REGIONS: readonly Region[] = ['north', 'west'];
export type InstanceName = 'A' | 'B' | 'C';
export const INSTANCES: readonly InstanceName[] = ['A', 'B', 'C'];
export const REGION_OF: Readonly<Record<InstanceName, Region>> = { A: 'north', B: 'north', C: 'west' };
const TABLE_REGIONS: Readonly<Record<Region, TableRegions>> = {
  north: { own: 'eu-north-1', peers: ['eu-west-1'] },
  west: { own: 'eu-west-1', peers: ['eu-north-1'] },
};

export type CallerName = 'orders' | 'billing' | 'outsider';
export const CALLERS: Readonly<Record<CallerName, CallerKey>> = {
  orders: ORDERS,
  billing: BILLING,
  outsider: OUTSIDER,
};
export type Scope = 'read' | 'write';
export const SCOPES: readonly Scope[] = ['read', 'write'];

/** The provider entry every run uses (its id is the run's own): what the reference model reads its rules from. */
export const PROVIDER = {
  tokenLifetimeSeconds: 600,
  refreshMarginSeconds: 60,
  // One attempt per grant, so that a provider request is a grant (budgets count grants); a 10 s timeout, so
  // that the lease is the longest one (12 s), as the dead-holder defect needs.
  timeoutMs: 10_000,
  maxAttempts: 1,
  upstreamBudget: { perCallerPerMinute: 3, perMinute: 4, evictionsPerCallerPerMinute: 2 },
  /** Who may ask what: orders any scope, billing `read` only, the outsider nothing. */
  grants: { orders: ['read', 'write'], billing: ['read'], outsider: [] } as Record<CallerName, Scope[]>,
  /** How long the provider's `slow` answer takes, in model time: under `timeoutMs`. */
  slowMs: 8000,
} as const;

/** Names each caller's request, so the clock knows when it reached its handler. */
const CALL_HEADER = 'x-model-call';
const SECRETS = { 'tvm/model': { client_id: 'model-client', client_secret: 'model-secret' } };
/** A hung table call fails after this, in model time: the tier's bound in production. */
const HUNG_TABLE_MS = 1000;

export type TableFault = 'hung' | 'throttled';
export type ProviderFault =
  | { readonly kind: '5xx' }
  | { readonly kind: '429'; readonly retryAfterSeconds: number }
  | { readonly kind: 'slow' };

/** One request the provider received, as the model sees it. */
export interface ProviderCall {
  /** Model time the request arrived. */
  readonly atMs: number;
  readonly instance: string;
  readonly region: Region;
  readonly scope: Scope;
  /** Whose vend (or `refresher`) the instance was serving when it asked. */
  readonly cause: CallerName | 'refresher' | 'unknown';
  readonly outcome: 'granted' | 'failed';
  readonly accessToken?: string;
  /** Model time the token's lifetime starts (the answer). */
  readonly issuedAtMs?: number;
  readonly expiresAtMs?: number;
  /** Model time the instance sent the request: the service dates the token's lifetime from it. */
  readonly sentAtMs: number;
  readonly retryAfterSeconds?: number;
}

export interface CallAnswer extends CallResult {
  readonly startMs: number;
  readonly endMs: number;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}
const deferred = (): Deferred => {
  let resolve = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
};

interface LiveInstance {
  readonly name: InstanceName;
  readonly id: string;
  readonly region: Region;
  readonly gateway: LocalGateway;
  readonly refresher: Refresher;
  /** Set by `kill`: the next provider request of this instance never completes. */
  dying: boolean;
  readonly reachedFetch: Deferred;
  cause: ProviderCall['cause'];
}

/** The parts every run shares: tables, KMS endpoints, the provider. A run has its own provider id. */
export class ModelWorld {
  private runs = 0;
  private current?: RealSystem;

  private constructor(
    readonly provider: FakeProvider,
    readonly tables: Readonly<Record<Region, TestTable>>,
    readonly kms: Readonly<Record<Region, KmsEndpoint>>,
    readonly counterKey: RandomCounterKey,
  ) {
    provider.setBehaviour((request) =>
      this.current ? this.current.answer(request) : { status: 503, body: { error: 'no run' } },
    );
  }

  static async start(): Promise<ModelWorld> {
    const key = multiRegionKey();
    const [provider, north, west, kmsNorth, kmsWest] = await Promise.all([
      startFakeProvider(),
      createTestTable(),
      createTestTable(),
      startKmsEndpoint(undefined, { region: TABLE_REGIONS.north.own, key }),
      startKmsEndpoint(undefined, { region: TABLE_REGIONS.west.own, key }),
    ]);
    return new ModelWorld(
      provider,
      { north, west },
      { north: kmsNorth, west: kmsWest },
      new RandomCounterKey(),
    );
  }

  /** A run of its own: a new provider id (so new keys, leases and counters), new instances, no fault on. */
  async newRun(): Promise<RealSystem> {
    this.runs += 1;
    const system = new RealSystem(this, this.runs);
    await system.start();
    this.current = system;
    return system;
  }

  endRun(system: RealSystem): void {
    if (this.current === system) this.current = undefined;
  }

  async close(): Promise<void> {
    await this.provider.close();
    await Promise.all([
      this.tables.north.dispose(),
      this.tables.west.dispose(),
      this.kms.north.close(),
      this.kms.west.close(),
    ]);
  }
}

/** One run's real system: what the commands act on. */
export class RealSystem {
  readonly clock: ModelClock;
  readonly providerId: string;
  readonly log = new RecordingLog();
  readonly calls: ProviderCall[] = [];
  private readonly live = new Map<InstanceName, LiveInstance>();
  private readonly dropped: LiveInstance[] = [];
  private readonly pendingKills: Promise<unknown>[] = [];
  private readonly recorded: Record<Region, RecordedTable>;
  private readonly tableFault: Record<Region, TableFault | undefined> = { north: undefined, west: undefined };
  private providerFault: ProviderFault | undefined;
  private generations = 0;
  private calls_ = 0;
  private readonly arrivals = new Map<string, () => void>();
  private tokens = 0;

  constructor(
    private readonly world: ModelWorld,
    run: number,
  ) {
    this.providerId = `model-${run}`;
    // Runs are days apart in model time: the in-use index's buckets are shared by every run's keys.
    this.clock = new ModelClock(Date.now() + run * 10 * 86_400_000);
    this.recorded = {
      north: this.recordedWithFaults('north'),
      west: this.recordedWithFaults('west'),
    };
    world.kms.north.setDisabled(false);
    world.kms.west.setDisabled(false);
  }

  async start(): Promise<void> {
    for (const name of INSTANCES) this.live.set(name, await this.startInstance(name));
  }

  instanceId(name: InstanceName): string {
    return this.instance(name).id;
  }

  async vend(name: InstanceName, caller: CallerName, scope: Scope, minTtl?: number): Promise<CallAnswer> {
    const instance = this.instance(name);
    instance.cause = caller;
    return this.call(
      instance,
      'POST',
      { scope, ...(minTtl === undefined ? {} : { min_ttl: minTtl }) },
      caller,
    );
  }

  async evict(
    name: InstanceName,
    caller: CallerName,
    scope: Scope,
    fingerprint: string,
  ): Promise<CallAnswer & { outcome?: string }> {
    const instance = this.instance(name);
    instance.cause = caller;
    const answer = await this.call(instance, 'DELETE', { scope, token_fingerprint: fingerprint }, caller);
    const outcome = answer.headers.get(EVICT_OUTCOME_HEADER) ?? undefined;
    return { ...answer, ...(outcome === undefined ? {} : { outcome }) };
  }

  async refresh(name: InstanceName): Promise<RefreshReport> {
    const instance = this.instance(name);
    instance.cause = 'refresher';
    return instance.refresher.refreshDueKeys();
  }

  /**
   * Kills the instance while it fetches: a vend of `scope` starts on it, and its provider request never
   * completes (as a Lambda killed by its timeout or by memory); the container is dropped and a new one
   * takes its name, as Lambda starts a new container. Answers whether the instance was fetching (holding
   * the key's lease) when it died, or had answered first (a cache hit: nothing held).
   */
  async kill(name: InstanceName, caller: CallerName, scope: Scope): Promise<'mid-fetch' | 'answered'> {
    const instance = this.instance(name);
    instance.dying = true;
    instance.cause = caller;
    const vend = this.call(instance, 'POST', { scope }, caller).then(
      () => 'answered' as const,
      () => 'answered' as const,
    );
    const how = await Promise.race([instance.reachedFetch.promise.then(() => 'mid-fetch' as const), vend]);
    this.pendingKills.push(vend);
    this.dropped.push(instance);
    this.live.set(name, await this.startInstance(name));
    return how;
  }

  setTableFault(region: Region, fault: TableFault | undefined): void {
    this.tableFault[region] = fault;
  }

  setKmsRefused(region: Region, refused: boolean): void {
    this.world.kms[region].setDisabled(refused);
  }

  setProviderFault(fault: ProviderFault | undefined): void {
    this.providerFault = fault;
  }

  /** Delivers the writes of `from`'s table not yet replicated to the other region's, in order. */
  async replicate(from: Region): Promise<number> {
    return deliver(this.recorded[from], this.world.tables[from === 'north' ? 'west' : 'north']);
  }

  /** The scripted provider's answer to a request of this run. */
  async answer(request: RecordedRequest): Promise<Reply> {
    const id = String(request.headers['x-model-instance'] ?? '');
    const owner = [...this.live.values(), ...this.dropped].find((instance) => instance.id === id);
    const scope = (request.params.scope ?? 'read') as Scope;
    const atMs = this.clock.now();
    const base = {
      atMs,
      sentAtMs: Number(request.headers['x-model-sent-at'] ?? atMs),
      instance: id,
      region: owner?.region ?? 'north',
      scope,
      cause: owner?.cause ?? 'unknown',
    } as const;
    const fault = this.providerFault;
    if (fault?.kind === '5xx') {
      this.calls.push({ ...base, outcome: 'failed' });
      return { status: 503, body: { error: 'temporarily_unavailable' } };
    }
    if (fault?.kind === '429') {
      this.calls.push({ ...base, outcome: 'failed', retryAfterSeconds: fault.retryAfterSeconds });
      return {
        status: 429,
        headers: { 'retry-after': String(fault.retryAfterSeconds) },
        body: { error: 'slow_down' },
      };
    }
    this.tokens += 1;
    const accessToken = `${this.providerId}-${scope}-${this.tokens}`;
    const issuedAtMs = this.clock.now();
    this.calls.push({
      ...base,
      outcome: 'granted',
      accessToken,
      issuedAtMs,
      expiresAtMs: issuedAtMs + PROVIDER.tokenLifetimeSeconds * 1000,
    });
    return {
      status: 200,
      body: {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: PROVIDER.tokenLifetimeSeconds,
        scope,
      },
    };
  }

  async close(): Promise<void> {
    this.world.endRun(this);
    this.clock.stop();
    await Promise.all([...this.live.values(), ...this.dropped].map((instance) => instance.gateway.close()));
    await Promise.all(this.pendingKills);
    for (const region of REGIONS) this.recorded[region].pending.splice(0);
    await Promise.all(REGIONS.map((region) => this.recorded[region].table.dispose()));
    this.world.kms.north.setDisabled(false);
    this.world.kms.west.setDisabled(false);
  }

  private instance(name: InstanceName): LiveInstance {
    const instance = this.live.get(name);
    if (!instance) throw new Error(`no instance ${name}`);
    return instance;
  }

  private async call(
    instance: LiveInstance,
    method: 'POST' | 'DELETE',
    body: Record<string, unknown>,
    caller: CallerName,
  ): Promise<CallAnswer> {
    const startMs = this.clock.now();
    // In flight for the clock until the handler has it: time does not move under a request on its way.
    this.calls_ += 1;
    const callId = String(this.calls_);
    const arrived = this.clock.begin();
    this.arrivals.set(callId, arrived);
    try {
      const result = await signedFetch({
        method,
        url: `${instance.gateway.url}/v1/tokens/${this.providerId}`,
        headers: { [CALL_HEADER]: callId },
        body: JSON.stringify(body),
        credentials: CALLERS[caller],
      });
      return { ...result, startMs, endMs: this.clock.now() };
    } finally {
      arrived();
      this.arrivals.delete(callId);
    }
  }

  /** The region's table through a client that records its writes (for replication) and fails as told. */
  private recordedWithFaults(region: Region): RecordedTable {
    const recorded = recordWrites(this.world.tables[region]);
    addTableFaults(recorded.table.client, this.clock, () => this.tableFault[region]);
    return recorded;
  }

  private async startInstance(name: InstanceName): Promise<LiveInstance> {
    this.generations += 1;
    const region = REGION_OF[name];
    const id = `${name}${this.generations}`;
    const kms = this.world.kms[region];
    const clock = this.clock;
    const providers = parseProviderConfig(
      {
        providers: [
          {
            id: this.providerId,
            tokenEndpoint: this.world.provider.tokenEndpoint,
            clientAuth: 'client_secret_post',
            secretId: 'tvm/model',
            allowedScopes: ['read', 'write'],
            defaultScopes: ['read'],
            callers: [ORDERS_ROLE, { principal: BILLING.principalArn, scopes: ['read'] }],
            refreshMarginSeconds: PROVIDER.refreshMarginSeconds,
            timeoutMs: PROVIDER.timeoutMs,
            maxAttempts: PROVIDER.maxAttempts,
            upstreamBudget: PROVIDER.upstreamBudget,
          },
        ],
      },
      'model providers',
      'local',
    );
    const reachedFetch = deferred();
    const state: { dying: boolean; cause: ProviderCall['cause'] } = { dying: false, cause: 'unknown' };
    // The instance's transport: tags its requests (the provider tells instances apart by it), and once the
    // instance is dying never completes one, whatever the request's own timeout says.
    const transport: typeof fetch = (input, init) => {
      if (state.dying) {
        reachedFetch.resolve();
        return new Promise<Response>(() => {});
      }
      return (async () => {
        // The service dates a token from when it asked: the model needs that moment too.
        const sentAtMs = clock.now();
        // A slow provider answers late in model time; the request itself is counted in flight.
        if (this.providerFault?.kind === 'slow') await clock.sleep(PROVIDER.slowMs);
        const headers = new Headers(init?.headers);
        headers.set('x-model-instance', id);
        headers.set('x-model-sent-at', String(sentAtMs));
        return clock.track(() => fetch(input, { ...init, headers }));
      })();
    };
    const keyService = kmsClient(kms);
    keyService.middlewareStack.add((next) => (args) => clock.track(() => next(args)), {
      step: 'initialize',
      name: 'modelKmsInFlight',
    });
    const { handler, refresher } = composeService({
      providers,
      credentials: new StaticCredentialSource(SECRETS),
      shared: {
        dynamoDb: this.recorded[region].table.client,
        tableName: this.recorded[region].table.tableName,
        sealer: new EnvelopeSealer({
          dataKeys: new KmsDataKeys({ client: keyService, keyId: kms.keyId }),
          now: () => clock.now(),
        }),
        regions: TABLE_REGIONS[region],
      },
      log: this.log,
      clock,
      tokenClient: { fetch: transport },
      evictFloorSeconds: 0,
      counterKey: this.world.counterKey,
      endpoints: 'local',
    });
    const gateway = await startLocalGateway({
      handler: (event) => {
        const header = Object.entries(event.headers ?? {}).find(
          ([name]) => name.toLowerCase() === CALL_HEADER,
        );
        this.arrivals.get(String(header?.[1]))?.();
        return handler(event);
      },
      callers: Object.values(CALLERS),
      port: 0,
    });
    const instance: LiveInstance = {
      name,
      id,
      region,
      gateway,
      refresher,
      reachedFetch,
      get dying() {
        return state.dying;
      },
      set dying(value: boolean) {
        state.dying = value;
      },
      get cause() {
        return state.cause;
      },
      set cause(value: ProviderCall['cause']) {
        state.cause = value;
      },
    };
    return instance;
  }
}

/**
 * A table call under a fault: throttled at once, or hung until its bound (in model time) runs out, failing
 * as an aborted call does. A call that goes through is counted in flight for the clock.
 */
function addTableFaults(
  client: DynamoDBClient,
  clock: ModelClock,
  fault: () => TableFault | undefined,
): void {
  client.middlewareStack.add((next) => (args) => clock.track(() => next(args)), {
    step: 'initialize',
    name: 'modelTableInFlight',
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      const current = fault();
      if (current === 'throttled') {
        throw Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
          name: 'ThrottlingException',
          $fault: 'client',
        });
      }
      if (current === 'hung') {
        await clock.sleep(HUNG_TABLE_MS);
        throw Object.assign(new Error('The table did not answer.'), { name: 'TimeoutError' });
      }
      return next(args);
    },
    { step: 'initialize', name: 'modelTableFaults', priority: 'high' },
  );
}
