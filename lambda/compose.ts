import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbBudgetLedger } from './budget/budget-ledger';
import type { CounterKeySource } from './budget/caller-counter-names';
import { DynamoDbTier } from './cache/dynamodb-tier';
import { FallbackTier } from './cache/fallback-tier';
import { InProcessTier } from './cache/in-process-tier';
import { MemoryTokenStore } from './cache/memory-token-store';
import type { TokenSealer } from './cache/token-sealer';
import type { EndpointPolicy } from './config/load-providers';
import type { ProviderConfig } from './config/provider-schema';
import type { CredentialSource } from './credentials/client-credentials';
import { KmsKeyedCredentials } from './credentials/kms-keyed-credentials';
import { LastGoodCredentials } from './credentials/last-good-credentials';
import { type ApiHandler, createHandler } from './handler';
import type { Log } from './logging';
import type { ProviderSigners } from './oauth/assertion-signer';
import { OAuthTokenClient, type OAuthTokenClientOptions } from './oauth/token-client';
import { ServiceMetrics } from './service-metrics';
import { TokenVendor } from './token-vendor';

export interface ServiceParts {
  readonly providers: readonly ProviderConfig[];
  readonly credentials: CredentialSource;
  readonly dynamoDb?: DynamoDBClient;
  readonly tableName?: string;
  readonly log: Log;
  readonly tokenClient?: OAuthTokenClientOptions;
  readonly memory?: MemoryTokenStore;
  readonly now?: () => number;
  /** Bound of one table call. @default TABLE_CALL_TIMEOUT_MS */
  readonly tableCallTimeoutMs?: number;
  /** A token younger than this is not evicted. @default EVICT_FLOOR_SECONDS */
  readonly evictFloorSeconds?: number;
  /** Powertools Metrics to publish the service's metrics through (EMF on stdout). @default none */
  readonly metrics?: Metrics;
  /** Seals tokens written to the table; required with a table. */
  readonly sealer?: TokenSealer;
  /** Which addresses token requests may connect to (`local`: loopback too). @default 'public' */
  readonly endpoints?: EndpointPolicy;
  /** The key that names callers in the budget counters. @default a random key of this process */
  readonly counterKey?: CounterKeySource;
  /** The signers of providers whose key is in KMS (`signingKey`), by provider id. @default none */
  readonly signers?: ReadonlyMap<string, ProviderSigners>;
}

/** Wires one service instance, as a Lambda container or a local instance holds it. */
export function composeService(parts: ServiceParts): { handler: ApiHandler; vendor: TokenVendor } {
  const now = parts.now ? { now: parts.now } : {};
  const metrics = parts.metrics
    ? new ServiceMetrics(parts.metrics, new Set(parts.providers.map((provider) => provider.id)))
    : undefined;
  // Table errors and serving while valid are counted where they are logged.
  const log = metrics ? metrics.observe(parts.log) : parts.log;
  const local = new InProcessTier(now);
  if (parts.dynamoDb && !parts.sealer)
    throw new Error('a shared table needs a sealer: tokens are never stored in the clear');
  // The table is shared by every container; when it fails or hangs, this container's own tier stands in.
  const tier =
    parts.dynamoDb && parts.tableName
      ? new FallbackTier(
          new DynamoDbTier({
            client: parts.dynamoDb,
            tableName: parts.tableName,
            sealer: parts.sealer as TokenSealer,
            log,
            ...now,
            ...(parts.tableCallTimeoutMs === undefined ? {} : { callTimeoutMs: parts.tableCallTimeoutMs }),
          }),
          local,
          { log, ...now },
        )
      : local;
  const vendor = new TokenVendor({
    providers: parts.providers,
    credentials: new KmsKeyedCredentials(
      new LastGoodCredentials(parts.credentials, { log, ...now }),
      parts.providers,
      parts.signers ?? new Map(),
    ),
    tokenClient: new OAuthTokenClient({
      ...now,
      endpoints: parts.endpoints ?? 'public',
      ...parts.tokenClient,
    }),
    // With a shared table, memory is trusted a minute (evictions elsewhere show within it); alone, it is the cache.
    memory:
      parts.memory ??
      new MemoryTokenStore({
        ...now,
        ...(tier === local ? { maxAgeSeconds: Number.POSITIVE_INFINITY } : {}),
      }),
    tier,
    log,
    ...now,
    ...(parts.evictFloorSeconds === undefined ? {} : { evictFloorSeconds: parts.evictFloorSeconds }),
    ...(parts.counterKey ? { counterKey: parts.counterKey } : {}),
    ...(parts.dynamoDb && parts.tableName
      ? { budgetLedger: new DynamoDbBudgetLedger({ client: parts.dynamoDb, tableName: parts.tableName }) }
      : {}),
  });
  return {
    handler: createHandler({ vendor, log, ...(metrics ? { metrics } : {}), ...now }),
    vendor,
  };
}
