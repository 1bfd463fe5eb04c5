import { join } from 'node:path';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { KMSClient } from '@aws-sdk/client-kms';
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  Context,
  SQSBatchResponse,
  SQSEvent,
} from 'aws-lambda';
import { SecretsManagerCounterKey } from './budget/caller-counter-names';
import { KmsDataKeys } from './cache/kms-data-keys';
import { EnvelopeSealer } from './cache/token-sealer';
import { composeService } from './compose';
import { loadProvidersFile } from './config/load-providers';
import {
  ANY_CALLER_ACCOUNTS_ENVIRONMENT,
  accountsInPartition,
  parseAnyCallerAccounts,
  partitionOfRegion,
} from './contracts/caller-accounts';
import { METRICS_NAMESPACE, METRICS_SERVICE } from './contracts/metrics';
import { parseTableRegions, REGIONS_ENVIRONMENT } from './contracts/region-owned-items';
import { createTableClient } from './contracts/token-table';
import {
  createSecretsClient,
  SecretsManagerCredentialSource,
} from './credentials/secrets-manager-credential-source';
import { createLogger } from './logging';
import { kmsSignerFactory, parseCreatedKeyArns, providerSigners } from './oauth/signing-keys';
import { isScheduledEvent, type ScheduledEvent } from './refresh/scheduled-event';
import { isSqsEvent, renewDelivered } from './refresh/sqs-event';
import { createQueueClient, RENEWAL_QUEUE_ENVIRONMENT, SqsRenewalQueue } from './refresh/sqs-renewal-queue';
import type { RefreshReport } from './refresher';

/**
 * The Lambda entry. Everything here runs once per container, at cold start: the providers file bundled
 * beside this code is validated (a bad file fails the deploy's first invocation loudly), SDK clients are
 * created once and reused.
 */
const tableName = process.env.TVM_TABLE;
if (!tableName) throw new Error('TVM_TABLE is not set');
const sealingKeyId = process.env.TVM_SEALING_KEY_ID;
if (!sealingKeyId) throw new Error('TVM_SEALING_KEY_ID is not set');
// Several regions share the global table: refused here, at cold start, unless this region is one of them.
const regions = parseTableRegions(process.env[REGIONS_ENVIRONMENT], process.env.AWS_REGION);
const counterKeySecretArn = process.env.TVM_COUNTER_KEY_SECRET_ARN;
if (!counterKeySecretArn) throw new Error('TVM_COUNTER_KEY_SECRET_ARN is not set');
// The accounts a "*" entry admits, as the construct computed them: without them no "*" entry could be honoured.
// Of the function's own partition, which its region names: an account id of another partition is another account.
const anyCallerAccounts = accountsInPartition(
  parseAnyCallerAccounts(process.env[ANY_CALLER_ACCOUNTS_ENVIRONMENT]),
  partitionOfRegion(process.env.AWS_REGION),
);
const secretsClient = createSecretsClient();
// TVM_LOCAL_ENDPOINTS=allow lets a test run this entry against loopback providers; the stack never sets it.
const endpoints = process.env.TVM_LOCAL_ENDPOINTS === 'allow' ? 'local' : 'public';

const logger = createLogger();
const providers = loadProvidersFile(
  process.env.TVM_PROVIDERS ?? join(__dirname, 'providers.json'),
  endpoints,
);
// One bounded client for sealing and signing: every call has a timeout and at most one retry.
const kms = new KMSClient({
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 },
});
// The renewal queue the stack creates; without it (an older stack) renewals stay inside each run.
const renewalQueueUrl = process.env[RENEWAL_QUEUE_ENVIRONMENT];
const renewalQueue = renewalQueueUrl
  ? new SqsRenewalQueue({ client: createQueueClient(), queueUrl: renewalQueueUrl })
  : undefined;
const {
  handler: apiHandler,
  refresher,
  renewals,
} = composeService({
  ...(renewalQueue ? { renewalQueue } : {}),
  providers,
  // TVM_SIGNING_KEYS names the keys the stack created for `signingKey: {"kms": "create"}` entries.
  signers: providerSigners(
    providers,
    kmsSignerFactory(kms, parseCreatedKeyArns(process.env.TVM_SIGNING_KEYS)),
  ),
  endpoints,
  anyCallerAccounts,
  credentials: new SecretsManagerCredentialSource({ client: secretsClient }),
  counterKey: new SecretsManagerCounterKey({ client: secretsClient, secretId: counterKeySecretArn }),
  shared: {
    dynamoDb: createTableClient(),
    tableName,
    ...(regions ? { regions } : {}),
    // In every region its own replica of the multi-Region key: it opens what the other regions sealed.
    sealer: new EnvelopeSealer({
      dataKeys: new KmsDataKeys({ client: kms, keyId: sealingKeyId }),
    }),
  },
  log: logger,
  metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE }),
});

export async function handler(event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult>;
export async function handler(event: ScheduledEvent, context: Context): Promise<RefreshReport>;
export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse>;
export async function handler(
  event: APIGatewayProxyEvent | ScheduledEvent | SQSEvent,
  context: Context,
): Promise<APIGatewayProxyResult | RefreshReport | SQSBatchResponse> {
  logger.addContext(context);
  // The invocation's time left, where the context can tell it (a test's plain context cannot).
  const remainingMs =
    typeof context.getRemainingTimeInMillis === 'function'
      ? () => context.getRemainingTimeInMillis()
      : undefined;
  // The stack's schedule invokes this same function once a minute to hand the keys due to the queue...
  if (isScheduledEvent(event)) return refresher.refreshDueKeys(undefined, remainingMs ? { remainingMs } : {});
  // ...and the queue's event source mapping delivers each renewal at its time.
  if (isSqsEvent(event)) {
    if (!renewalQueue) return { batchItemFailures: [] };
    return renewDelivered(event, renewals, renewalQueue, remainingMs);
  }
  return apiHandler(event);
}
