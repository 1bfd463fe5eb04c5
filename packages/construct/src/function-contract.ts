/**
 * What the construct and the function it ships must agree on. The construct's bundle does not import the
 * function's modules (they pull in the AWS SDK); test/infra/function-contract.test.ts holds these equal to
 * the function's own.
 */
export const TOKEN_TABLE = {
  partitionKey: 'pk',
  ttlAttribute: 'expiresAt',
} as const;

/** The variable that tells the function which accounts a `"*"` caller entry admits. */
export { ANY_CALLER_ACCOUNTS_ENVIRONMENT } from '../../../lambda/contracts/caller-accounts';
/** The namespace and `service` dimension of the function's EMF metrics: the metrics contract imports nothing. */
export { METRICS_NAMESPACE, METRICS_SERVICE } from '../../../lambda/contracts/metrics';

/** The refresher's period: the schedule invokes the function this often, and the function buckets keys by it. */
export const REFRESH_PERIOD_SECONDS = 60;

/** A refresher run starts no renewal after this long: the dashboard draws it beside each run's duration. */
export const REFRESH_RUN_BUDGET_MS = 20_000;

/** The renewal queue's URL in the function's environment (the function sends the renewals due to it). */
export const RENEWAL_QUEUE_ENVIRONMENT = 'TVM_RENEWAL_QUEUE_URL';

/** The renewal queue's visibility timeout: at least the function's 28 s, as Lambda requires. */
export const RENEWAL_VISIBILITY_SECONDS = 30;

/** Deliveries of one renewal before it is a dead letter. */
export const RENEWAL_MAX_RECEIVES = 3;
