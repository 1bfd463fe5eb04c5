import { Metrics } from '@aws-lambda-powertools/metrics';
import { composeService } from '../lambda/compose';
import { loadProvidersFile } from '../lambda/config/load-providers';
import type { ProviderConfig } from '../lambda/config/provider-schema';
import { isLoopbackHost } from '../lambda/config/provider-schema';
import { METRICS_NAMESPACE, METRICS_SERVICE } from '../lambda/contracts/metrics';
import { createTableClient } from '../lambda/contracts/token-table';
import type { CredentialSource } from '../lambda/credentials/client-credentials';
import { StaticCredentialSource } from '../lambda/credentials/static-credential-source';
import { createLogger, type Log } from '../lambda/logging';
import { providerSigners } from '../lambda/oauth/signing-keys';
import { REFRESH_PERIOD_SECONDS, type Refresher } from '../lambda/refresher';

import { type AuthorizationServer, startAuthorizationServer } from './demo-authorization-server';
import { type DynamoDbLocal, startDynamoDbLocal } from './dynamodb-local';
import {
  DEMO_CALLER,
  DEMO_SECRET_ID,
  demoClient,
  demoProvider,
  type LocalSettings,
  loadCallers,
} from './local-config';
import { type LocalGateway, startLocalGateway } from './local-gateway';
import { localSignerFactory } from './local-signing-keys';
import { LOCAL_API_ACCOUNT } from './proxy-event';
import { localSealer } from './sealing';
import type { CallerKey } from './sigv4-verifier';
import { ensureTokenTable } from './token-table';

/** How often the local run delivers the renewals that fell due (SQS's long poll, in the stack). */
const RENEWAL_POLL_MS = 1000;

export interface LocalService {
  readonly gateway: LocalGateway;
  /** Providers the local run cannot vend for as configured (e.g. no secret for them), one line each. */
  readonly warnings: readonly string[];
  readonly providers: readonly ProviderConfig[];
  readonly callers: readonly CallerKey[];
  readonly dynamoDbEndpoint: string;
  /** Runs every `refreshIntervalSeconds` on its own; tests may also drive it. */
  readonly refresher: Refresher;
  stop(): Promise<void>;
}

const isLoopback = (endpoint: string) => isLoopbackHost(new URL(endpoint).hostname);

/**
 * One local instance: DynamoDB Local (unless an endpoint is given, so instances can share a table), the demo
 * authorization server (unless providers are configured), the handler, and the SigV4 gateway in front.
 * Whatever was started is stopped again if a later step fails.
 */
export async function startLocalService(
  settings: LocalSettings,
  log: Log = createLogger(),
): Promise<LocalService> {
  const started: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async () => {
    for (const part of started.reverse()) await part.stop().catch(() => undefined);
  };
  try {
    let dynamoDbEndpoint = settings.dynamoDbEndpoint;
    if (!dynamoDbEndpoint) {
      const dynamoDbLocal: DynamoDbLocal = await startDynamoDbLocal();
      started.push(dynamoDbLocal);
      dynamoDbEndpoint = dynamoDbLocal.endpoint;
    }
    const dynamoDb = createTableClient({
      endpoint: dynamoDbEndpoint,
      // Creating the table may take a moment on a JVM just started; each vend's call is bounded by the tier.
      requestHandler: { connectionTimeout: 2000, requestTimeout: 10_000 },
      region: process.env.AWS_REGION ?? 'us-east-1',
      ...(isLoopback(dynamoDbEndpoint)
        ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
        : {}),
    });
    started.push({ stop: async () => dynamoDb.destroy() });
    await ensureTokenTable(dynamoDb, settings.tableName);

    let providers: ProviderConfig[];
    let credentials: CredentialSource;
    if (settings.providersFile) {
      providers = loadProvidersFile(settings.providersFile, 'local');
      credentials = settings.secretsFile
        ? StaticCredentialSource.fromFile(settings.secretsFile)
        : new StaticCredentialSource({});
    } else {
      const client = demoClient();
      const demoServer: AuthorizationServer = await startAuthorizationServer({
        clients: [
          {
            client_id: client.clientId,
            client_secret: client.clientSecret,
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ],
      });
      started.push({ stop: () => demoServer.close() });
      providers = [demoProvider(demoServer.tokenEndpoint)];
      credentials = new StaticCredentialSource({
        [DEMO_SECRET_ID]: { client_id: client.clientId, client_secret: client.clientSecret },
      });
    }
    const callers = settings.callersFile ? loadCallers(settings.callersFile) : [DEMO_CALLER];
    const warnings: string[] = [];
    if (!settings.dynamoDbEndpoint) {
      // DynamoDB Local has no option to bind to loopback only; say so rather than let it pass unseen.
      warnings.push(
        `DynamoDB Local (${dynamoDbEndpoint}) listens on every interface of this machine, not only loopback; it holds sealed tokens and lease state. Firewall its port on a shared machine.`,
      );
    }
    for (const provider of providers) {
      await credentials.get(provider.secretId).catch((error: Error) => {
        warnings.push(`provider ${provider.id} cannot vend: ${error.message}`);
      });
    }
    const periodSeconds = settings.refreshIntervalSeconds ?? REFRESH_PERIOD_SECONDS;
    const { handler, refresher } = composeService({
      providers,
      // KMS-keyed entries sign with the local stand-in keys (`npm run secret -- public-key P --env local`).
      signers: providerSigners(providers, localSignerFactory()),
      credentials,
      shared: { dynamoDb, tableName: settings.tableName, sealer: localSealer() },
      // Local providers live on loopback; every other private range stays refused.
      endpoints: 'local',
      anyCallerAccounts: settings.anyCallerAccounts ?? [LOCAL_API_ACCOUNT],
      log,
      // The same EMF documents the function writes, on this process's stdout.
      metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE }),
      refreshPeriodSeconds: periodSeconds,
    });
    // As the stack's schedule does: one run a period, never two of this process at once.
    let running: Promise<unknown> | undefined;
    const timer = setInterval(() => {
      running ??= refresher
        .refreshDueKeys()
        .catch((error: Error) =>
          log.error('refresher run failed', { event: 'refresher_run_failed', error: error.name }),
        )
        .finally(() => {
          running = undefined;
        });
    }, periodSeconds * 1000);
    timer.unref();
    // The renewal queue's delivery, as the stack's event source mapping polls SQS: renewals are timed to
    // their tokens (a delayed message per key), not to the period, so they are delivered every second.
    let delivering: Promise<unknown> | undefined;
    const poll = setInterval(() => {
      delivering ??= refresher
        .deliverRenewals()
        .catch((error: Error) =>
          log.error('renewal delivery failed', { event: 'refresher_run_failed', error: error.name }),
        )
        .finally(() => {
          delivering = undefined;
        });
    }, RENEWAL_POLL_MS);
    poll.unref();
    started.push({
      stop: async () => {
        clearInterval(timer);
        clearInterval(poll);
        await Promise.all([running, delivering]);
      },
    });
    const gateway = await startLocalGateway({
      handler,
      callers,
      port: settings.port,
      ...(settings.region === undefined ? {} : { region: settings.region }),
    });
    started.push({ stop: () => gateway.close() });
    return { gateway, warnings, providers, callers, dynamoDbEndpoint, refresher, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The command docs/DESIGN.md promises: pasted into a shell, it vends a token from the running service. */
export function curlCommand(service: Pick<LocalService, 'gateway' | 'providers' | 'callers'>): string {
  const caller = service.callers[0];
  const provider =
    service.providers.find((candidate) => caller && candidate.callers.includes(caller.principalArn)) ??
    service.providers[0];
  const region = process.env.AWS_REGION ?? 'us-east-1';
  return [
    `curl --aws-sigv4 'aws:amz:${region}:execute-api'`,
    `--user '${caller?.accessKeyId}:${caller?.secretAccessKey}'`,
    ...(caller?.sessionToken ? [`-H 'x-amz-security-token: ${caller.sessionToken}'`] : []),
    `-X POST '${service.gateway.url}/v1/tokens/${provider?.id ?? 'demo'}'`,
  ].join(' ');
}
