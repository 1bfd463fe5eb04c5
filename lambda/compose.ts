import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type BudgetLedger, DynamoDbBudgetLedger, InProcessBudgetLedger } from './budget/budget-ledger';
import {
  CallerCounterNames,
  type CounterKeySource,
  RandomCounterKey,
  SealedPrincipals,
} from './budget/caller-counter-names';
import { UpstreamBudget } from './budget/upstream-budget';
import { DependencyBypass } from './cache/dependency-bypass';
import { DynamoDbProviderRecords } from './cache/dynamodb-provider-records';
import { DynamoDbTier } from './cache/dynamodb-tier';
import { FallbackTier } from './cache/fallback-tier';
import { InProcessTier } from './cache/in-process-tier';
import { MemoryTokenStore } from './cache/memory-token-store';
import type { SharedTier } from './cache/shared-tier';
import type { TokenSealer } from './cache/token-sealer';
import type { TokenStore } from './cache/token-store';
import { type Clock, clockOf } from './clock';
import type { EndpointPolicy } from './config/load-providers';
import type { ProviderConfig } from './config/provider-schema';
import type { TableRegions } from './contracts/region-owned-items';
import type { CredentialSource } from './credentials/client-credentials';
import { KmsKeyedCredentials } from './credentials/kms-keyed-credentials';
import { LastGoodCredentials } from './credentials/last-good-credentials';
import { type ApiHandler, createHandler } from './handler';
import { KnownLifetimes } from './known-lifetimes';
import { KeyLease } from './lease/key-lease';
import { InProcessProviderRecords, ProviderBackoff, type ProviderRecords } from './lease/provider-backoff';
import type { Log } from './logging';
import type { ProviderSigners } from './oauth/assertion-signer';
import {
  OAuthTokenClient,
  type OAuthTokenClientOptions,
  type TokenClient,
  UPSTREAM_BUDGET_MS,
} from './oauth/token-client';
import { DynamoDbInUseIndex } from './refresh/dynamodb-in-use-index';
import { InProcessInUseIndex, type InUseIndex, TableGuardedIndex } from './refresh/in-use-index';
import { InUseMarker, renewalLeadSeconds } from './refresh/in-use-marker';
import { MarkAuthenticator } from './refresh/mark-authenticator';
import { InProcessRenewalQueue, type RenewalQueue } from './refresh/renewal-queue';
import { RenewalWorker } from './refresh/renewal-worker';
import { REFRESH_PERIOD_SECONDS, Refresher, renewalHorizonSeconds } from './refresher';
import { ServiceMetrics } from './service-metrics';
import { EVICT_FLOOR_SECONDS, TokenVendor } from './token-vendor';
import { UpstreamGrant } from './upstream-grant';
import { RequestPolicy } from './vend-context';

/** The table every container shares, and what seals the tokens written to it: one part, never half of it. */
export interface SharedTable {
  readonly dynamoDb: DynamoDBClient;
  readonly tableName: string;
  /** Tokens are never stored in the clear. */
  readonly sealer: TokenSealer;
  /** Bound of one table call. @default TABLE_CALL_TIMEOUT_MS */
  readonly callTimeoutMs?: number;
  /**
   * The deployment's regions when the table is a global table (`TVM_REGIONS`): every item written is the
   * own region's, the other regions' are read. @default one region, today's layout
   */
  readonly regions?: TableRegions;
}

export interface ServiceParts {
  readonly providers: readonly ProviderConfig[];
  readonly credentials: CredentialSource;
  readonly log: Log;
  /** The shared table. @default none: this instance caches alone, in process */
  readonly shared?: SharedTable;
  readonly tokenClient?: OAuthTokenClientOptions;
  readonly memory?: MemoryTokenStore;
  readonly now?: () => number;
  /**
   * What the instance reads as now and how it waits (a test's clock that also moves on its sleeps); wins over
   * `now`. @default the system clock, or `now` with real sleeps
   */
  readonly clock?: Clock;
  /** A token younger than this is not evicted. @default EVICT_FLOOR_SECONDS */
  readonly evictFloorSeconds?: number;
  /** Powertools Metrics to publish the service's metrics through (EMF on stdout). @default none */
  readonly metrics?: Metrics;
  /** Which addresses token requests may connect to (`local`: loopback too). @default 'public' */
  readonly endpoints?: EndpointPolicy;
  /** The key that names callers in the budget counters. @default a random key of this process */
  readonly counterKey?: CounterKeySource;
  /** The signers of providers whose key is in KMS (`signingKey`), by provider id. @default none */
  readonly signers?: ReadonlyMap<string, ProviderSigners>;
  /**
   * The accounts a `"*"` entry admits: the stack's own, or the settings' `allowedAccounts`
   * (`TVM_ANY_CALLER_ACCOUNTS`). @default none: a `"*"` entry admits nobody
   */
  readonly anyCallerAccounts?: readonly string[];
  /** How often the refresher runs; it hands over the renewals due up to a period ahead. @default REFRESH_PERIOD_SECONDS */
  readonly refreshPeriodSeconds?: number;
  /**
   * Where renewals wait until they are due (SQS in Lambda). @default a queue in this process, delivered by
   * each refresher run and by `refresher.deliverRenewals()` (the local run polls it every second)
   */
  readonly renewalQueue?: RenewalQueue;
}

/** The one composition root: wires one service instance, as a Lambda container or a local instance holds it. */
export function composeService(parts: ServiceParts): {
  handler: ApiHandler;
  vendor: TokenVendor;
  refresher: Refresher;
  /** Renews what the renewal queue delivers (the SQS event's handler in Lambda). */
  renewals: RenewalWorker;
} {
  const metrics = parts.metrics
    ? new ServiceMetrics(parts.metrics, new Set(parts.providers.map((provider) => provider.id)))
    : undefined;
  // Table errors and serving while valid are counted where they are logged.
  const log = metrics ? metrics.observe(parts.log) : parts.log;
  const clock = parts.clock ?? clockOf(parts.now);
  const local = new InProcessTier({ clock });
  // One window for the table's users (tier and budget ledger), and the key service that seals its tokens.
  const bypass = new DependencyBypass({ log, clock });
  const { shared } = parts;
  const tableTier = (table: SharedTable) =>
    new DynamoDbTier({
      client: table.dynamoDb,
      tableName: table.tableName,
      sealer: table.sealer,
      log,
      clock,
      callTimeoutMs: table.callTimeoutMs,
      regions: table.regions,
    });
  // The table is shared by every container; when it fails or hangs, this container's own tier stands in.
  const tier = shared ? new FallbackTier(tableTier(shared), local, bypass) : local;
  const periodSeconds = parts.refreshPeriodSeconds ?? REFRESH_PERIOD_SECONDS;
  // One counter key for the budget counters' names and the in-use marks' sealed principals.
  const counterKey = parts.counterKey ?? new RandomCounterKey();
  const principals = new SealedPrincipals(counterKey);
  const index: InUseIndex = shared
    ? new TableGuardedIndex(
        new DynamoDbInUseIndex({
          client: shared.dynamoDb,
          tableName: shared.tableName,
          periodSeconds,
          callTimeoutMs: shared.callTimeoutMs,
          regions: shared.regions,
        }),
        bypass,
      )
    : new InProcessInUseIndex();
  const marks = new MarkAuthenticator(counterKey);
  const inProcessQueue = parts.renewalQueue ? undefined : new InProcessRenewalQueue({ clock });
  const queue = parts.renewalQueue ?? (inProcessQueue as InProcessRenewalQueue);
  const credentials = new KmsKeyedCredentials(
    new LastGoodCredentials(parts.credentials, { log, clock }),
    parts.providers,
    parts.signers ?? new Map(),
  );
  const tokenClient = new OAuthTokenClient({
    now: () => clock.now(),
    endpoints: parts.endpoints ?? 'public',
    ...parts.tokenClient,
  });
  const budgetLedger = shared
    ? new DynamoDbBudgetLedger({
        client: shared.dynamoDb,
        tableName: shared.tableName,
        regions: shared.regions,
      })
    : undefined;
  const regions = shared?.regions ? 1 + shared.regions.peers.length : 1;
  // One record per provider for both vendors (requests and renewals): a backoff seen by one holds for both.
  const providerRecords: ProviderRecords = shared
    ? new DynamoDbProviderRecords({
        client: shared.dynamoDb,
        tableName: shared.tableName,
        clock,
        ...(shared.callTimeoutMs === undefined ? {} : { callTimeoutMs: shared.callTimeoutMs }),
        ...(shared.regions ? { regions: shared.regions } : {}),
      })
    : new InProcessProviderRecords();
  // Not while the table or the key service is left alone: no token would be sealed, and KMS not asked.
  const prepareSeal = shared?.sealer.prepare
    ? {
        prepareSeal: (providerId: string) => {
          if (!bypass.tokensBypassed()) shared.sealer.prepare?.(providerId);
        },
      }
    : {};
  // What the vendor of requests and the vendor of renewals share: one container's ports.
  const ports = {
    providers: parts.providers,
    anyCallerAccounts: parts.anyCallerAccounts ?? [],
    credentials,
    tokenClient,
    log,
    clock,
    bypass,
    evictFloorSeconds: parts.evictFloorSeconds,
    counterKey,
    regions,
    budgetLedger,
    providerRecords,
    ...prepareSeal,
  };
  const vendor = composeVendor({
    ...ports,
    // With a shared table, memory is trusted MEMORY_TRUST_SECONDS (evictions elsewhere show within it); alone, it is the cache.
    memory:
      parts.memory ??
      new MemoryTokenStore({ clock, maxAgeSeconds: shared ? undefined : Number.POSITIVE_INFINITY }),
    tier,
    inUse: new InUseMarker({
      index,
      queue,
      principals,
      marks,
      clock,
      log,
      horizonSeconds: renewalHorizonSeconds(periodSeconds),
      leadSeconds: renewalLeadSeconds(shared?.regions),
    }),
  });
  // Renewals go to the table itself, never to this container's fallback: a renewal the table cannot take
  // (a failed read, seal or lease write) is a failed renewal, counted and retried, not a local copy.
  const renewalVendor = composeVendor({
    ...ports,
    memory: new MemoryTokenStore({ clock }),
    tier: shared ? tableTier(shared) : local,
  });
  const renewals = new RenewalWorker({
    vendor: renewalVendor,
    principals,
    marks,
    clock,
    log,
    ...(metrics ? { metrics } : {}),
  });
  return {
    handler: createHandler({ vendor, log, metrics, clock }),
    vendor,
    refresher: new Refresher({
      index,
      queue,
      marks,
      clock,
      log,
      periodSeconds,
      ...(inProcessQueue ? { inProcess: { queue: inProcessQueue, worker: renewals } } : {}),
      ...(metrics ? { metrics } : {}),
    }),
    renewals,
  };
}

/** The vendor's ports: what a container (or a unit test) hands in; everything else is built here. */
export interface VendorPorts {
  readonly providers: readonly ProviderConfig[];
  /** The accounts a `"*"` entry admits. @default none */
  readonly anyCallerAccounts?: readonly string[];
  /** How many regions count budgets of their own (each takes its share of a quota). @default 1 */
  readonly regions?: number;
  readonly credentials: CredentialSource;
  readonly tokenClient: TokenClient;
  readonly memory: TokenStore;
  readonly tier: SharedTier;
  readonly log: Log;
  readonly clock: Clock;
  /** When the table is left alone; shared with the tier. @default a window of this vendor's own */
  readonly bypass?: DependencyBypass;
  /**
   * How long a caller may wait for another instance's fetch before giving up; also the longest lease.
   * @default 12000 (one upstream budget and 2 s for the table)
   */
  readonly waitBudgetMs?: number;
  /** @default EVICT_FLOOR_SECONDS */
  readonly evictFloorSeconds?: number;
  /** Where upstream budgets are counted across containers. @default this container alone */
  readonly budgetLedger?: BudgetLedger;
  /** The key that names callers in the budget counters. @default a random key of this process */
  readonly counterKey?: CounterKeySource;
  /** @default none: no key is marked in use, renewal stays on the request path */
  readonly inUse?: InUseMarker;
  /** Where each provider's backoff record is shared across containers. @default this container alone */
  readonly providerRecords?: ProviderRecords;
  /** Gets a provider's sealing data key ready while its grant runs. @default none */
  readonly prepareSeal?: (providerId: string) => void;
}

/** The vendor and its collaborators, over the ports given. */
export function composeVendor(ports: VendorPorts): TokenVendor {
  const { clock, log, tier } = ports;
  const bypass = ports.bypass ?? new DependencyBypass({ log, clock });
  // One record per provider, whatever its keys: asked before each grant, told of each attempt.
  const backoff = new ProviderBackoff({
    records: ports.providerRecords ?? new InProcessProviderRecords(),
    bypass,
    clock,
  });
  return new TokenVendor({
    policy: new RequestPolicy(ports.providers, ports.credentials, ports.anyCallerAccounts ?? []),
    memory: ports.memory,
    tier,
    lease: new KeyLease({ tier, clock }),
    grant: new UpstreamGrant({
      credentials: ports.credentials,
      tokenClient: ports.tokenClient,
      attempts: backoff,
    }),
    budget: new UpstreamBudget({
      ledger: ports.budgetLedger ?? new InProcessBudgetLedger(),
      fallback: new InProcessBudgetLedger(),
      names: new CallerCounterNames(ports.counterKey ?? new RandomCounterKey()),
      log,
      bypass,
      clock,
      ...(ports.regions === undefined ? {} : { regions: ports.regions }),
    }),
    lifetimes: new KnownLifetimes(),
    log,
    clock,
    waitBudgetMs: ports.waitBudgetMs ?? UPSTREAM_BUDGET_MS + 2000,
    evictFloorSeconds: ports.evictFloorSeconds ?? EVICT_FLOOR_SECONDS,
    ...(ports.inUse ? { inUse: ports.inUse } : {}),
    backoff,
    ...(ports.prepareSeal ? { prepareSeal: ports.prepareSeal } : {}),
  });
}
