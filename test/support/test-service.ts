import type { Metrics } from '@aws-lambda-powertools/metrics';
import { type CounterKeySource, RandomCounterKey } from '../../lambda/budget/caller-counter-names';
import type { TokenSealer } from '../../lambda/cache/token-sealer';
import { composeService } from '../../lambda/compose';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import type { ProviderConfig } from '../../lambda/config/provider-schema';
import type { TableRegions } from '../../lambda/contracts/region-owned-items';
import type { CredentialSource } from '../../lambda/credentials/client-credentials';
import { StaticCredentialSource } from '../../lambda/credentials/static-credential-source';
import type { Log } from '../../lambda/logging';
import { providerSigners, type SignerFactory } from '../../lambda/oauth/signing-keys';
import type { OAuthTokenClientOptions } from '../../lambda/oauth/token-client';
import type { Refresher } from '../../lambda/refresher';
import type { TokenVendor } from '../../lambda/token-vendor';
import { type LocalGateway, startLocalGateway } from '../../local/local-gateway';
import { type LocalService, startLocalService } from '../../local/local-service';
import { localSealer } from '../../local/sealing';
import type { CallerKey } from '../../local/sigv4-verifier';
import { tokenFingerprint } from '../../packages/client/src/wire-contract';
import { createTestTable, type TestTable } from './dynamodb';
import { RecordingLog } from './recording-log';
import { type CallResult, signedFetch } from './sigv4-client';

export const ORDERS: CallerKey = {
  accessKeyId: 'AKIAORDERSSERVICE001',
  secretAccessKey: 'orders-secret-access-key',
  principalArn: 'arn:aws:sts::111122223333:assumed-role/orders-service/i-0abc',
};
export const ORDERS_ROLE = 'arn:aws:iam::111122223333:role/orders-service';

/** The account a test service stands in for: its `"*"` entries admit this one. */
export const STACK_ACCOUNT = '111122223333';

export const BILLING: CallerKey = {
  accessKeyId: 'AKIABILLINGSERVICE01',
  secretAccessKey: 'billing-secret-access-key',
  principalArn: 'arn:aws:iam::111122223333:role/billing-service',
};

export const OUTSIDER: CallerKey = {
  accessKeyId: 'AKIAOUTSIDERSERVICE1',
  secretAccessKey: 'outsider-secret-access-key',
  principalArn: 'arn:aws:iam::999988887777:role/someone-else',
};

export interface TestServiceOptions {
  /** Entries as a providers file holds them; validated by the same schema. */
  readonly providers: readonly Record<string, unknown>[];
  readonly secrets?: Record<string, unknown>;
  readonly credentials?: CredentialSource;
  readonly table?: TestTable;
  readonly log?: Log;
  readonly tokenClient?: OAuthTokenClientOptions;
  readonly now?: () => number;
  /** Called as each request reaches the handler: lets a test gate on how many are in flight. */
  readonly onRequest?: () => void;
  /**
   * A token younger than this is not evicted. @default 0 here (tests evict to force a miss), 15 s in the
   * service; the floor has its own tests.
   */
  readonly evictFloorSeconds?: number;
  /** @default a sealer on the local run's wrapping key, so that instances open each other's tokens */
  readonly sealer?: TokenSealer;
  /** @default one random key for the test run, so that instances sharing a table share budgets */
  readonly counterKey?: CounterKeySource;
  /** Makes the signers of KMS-keyed providers (`signingKey`). */
  readonly signers?: SignerFactory;
  /** @default the stack's 60 s */
  readonly refreshPeriodSeconds?: number;
  /** The deployment's regions, as `TVM_REGIONS` gives them (with `table` only). @default one region */
  readonly regions?: TableRegions;
  /** Bound of one table call (with `table` only). @default the service's own */
  readonly callTimeoutMs?: number;
  /** Where the service publishes its EMF metrics (a `RecordingMetrics` keeps them). @default none */
  readonly metrics?: Metrics;
  /** Who may sign besides ORDERS, BILLING and OUTSIDER. @default nobody else */
  readonly callers?: readonly CallerKey[];
  /** The accounts a `"*"` entry admits. @default the account of ORDERS and BILLING, as the stack's own */
  readonly anyCallerAccounts?: readonly string[];
}

export interface TestService {
  readonly gateway: LocalGateway;
  readonly vendor: TokenVendor;
  /** This instance's refresher: tests run it by hand (no timer here). */
  readonly refresher: Refresher;
  readonly log: RecordingLog;
  readonly providers: readonly ProviderConfig[];
  vend(providerId: string, body?: unknown, caller?: CallerKey): Promise<CallResult>;
  evict(providerId: string, body?: unknown, caller?: CallerKey): Promise<CallResult>;
  call(method: string, path: string, body?: string, caller?: CallerKey): Promise<CallResult>;
  close(): Promise<void>;
}

/** Random for each run: instances of one run share it, as a stack's containers share the stack's key. */
const RUN_COUNTER_KEY = new RandomCounterKey();

/** The handler behind the real local gateway, called with real SigV4 signatures. */
export async function startTestService(options: TestServiceOptions): Promise<TestService> {
  const log = options.log instanceof RecordingLog ? options.log : new RecordingLog();
  const providers = parseProviderConfig({ providers: options.providers }, 'test providers', 'local');
  const { handler, vendor, refresher } = composeService({
    providers,
    credentials: options.credentials ?? new StaticCredentialSource(options.secrets ?? {}),
    ...(options.table
      ? {
          shared: {
            dynamoDb: options.table.client,
            tableName: options.table.tableName,
            sealer: options.sealer ?? localSealer(),
            ...(options.regions ? { regions: options.regions } : {}),
            ...(options.callTimeoutMs === undefined ? {} : { callTimeoutMs: options.callTimeoutMs }),
          },
        }
      : {}),
    log: options.log ?? log,
    tokenClient: { retry: { baseDelayMs: 20, maxDelayMs: 100 }, ...options.tokenClient },
    evictFloorSeconds: options.evictFloorSeconds ?? 0,
    counterKey: options.counterKey ?? RUN_COUNTER_KEY,
    endpoints: 'local',
    anyCallerAccounts: options.anyCallerAccounts ?? [STACK_ACCOUNT],
    ...(options.now ? { now: options.now } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.signers ? { signers: providerSigners(providers, options.signers) } : {}),
    ...(options.refreshPeriodSeconds === undefined
      ? {}
      : { refreshPeriodSeconds: options.refreshPeriodSeconds }),
  });
  const { onRequest } = options;
  const gateway = await startLocalGateway({
    handler: onRequest
      ? (event) => {
          onRequest();
          return handler(event);
        }
      : handler,
    callers: [ORDERS, BILLING, OUTSIDER, ...(options.callers ?? [])],
    port: 0,
  });
  const call = (method: string, path: string, body?: string, caller: CallerKey = ORDERS) =>
    signedFetch({
      method,
      url: `${gateway.url}${path}`,
      ...(body === undefined ? {} : { body }),
      credentials: caller,
    });
  const withBody = (body: unknown) =>
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  // Tests evict to force a miss: an evict that names no token names the one last vended with those selectors.
  const lastVended = new Map<string, string>();
  const selectorsKey = (providerId: string, body: unknown) => {
    const {
      min_ttl: _minTtl,
      token_fingerprint: _fingerprint,
      ...selectors
    } = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    return JSON.stringify([providerId, selectors]);
  };
  return {
    gateway,
    vendor,
    refresher,
    log,
    providers,
    call,
    vend: async (providerId, body, caller) => {
      const result = await call('POST', `/v1/tokens/${providerId}`, withBody(body), caller);
      if (typeof result.json.access_token === 'string') {
        lastVended.set(selectorsKey(providerId, body), result.json.access_token);
      }
      return result;
    },
    evict: (providerId, body, caller) => {
      const last = lastVended.get(selectorsKey(providerId, body));
      const named =
        (body === undefined ||
          (typeof body === 'object' && body !== null && !('token_fingerprint' in body))) &&
        last !== undefined
          ? { ...(body as object | undefined), token_fingerprint: tokenFingerprint(last) }
          : body;
      return call('DELETE', `/v1/tokens/${providerId}`, withBody(named), caller);
    },
    close: () => gateway.close(),
  };
}

/**
 * The local run in this process (`npm start` without configuration: the demo provider and caller) on a
 * table of its own in the run's DynamoDB Local; `stop` ends both.
 */
export async function startTestLocalRun(): Promise<{ local: LocalService; stop(): Promise<void> }> {
  const table = await createTestTable();
  const local = await startLocalService(
    { port: 0, dynamoDbEndpoint: table.endpoint, tableName: table.tableName },
    new RecordingLog(),
  );
  return {
    local,
    stop: async () => {
      await local.stop();
      await table.dispose();
    },
  };
}
