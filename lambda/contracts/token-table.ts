import { type AttributeValue, DynamoDBClient, type Update } from '@aws-sdk/client-dynamodb';

/**
 * The token table's layout: what the function's tier and budget ledger write, what the stack creates and the
 * local run mirrors. The one place these names are spelt.
 */
export const TOKEN_TABLE = {
  partitionKey: 'pk',
  /** Epoch seconds; the table's TTL attribute. TTL deletes late, so every read checks it too. */
  ttlAttribute: 'expiresAt',
} as const;

/** The attributes of a key's item (besides the partition key). */
export const TOKEN_ITEM = {
  sealed: 'sealed',
  /** Written by releases before sealing; removed on every write. */
  clearToken: 'accessToken',
  clearScope: 'scope',
  issuedAt: 'issuedAt',
  expiresAt: TOKEN_TABLE.ttlAttribute,
  /** Random per token written: what a lease or evict names. */
  version: 'version',
  /** Counts the tokens written on the key; bound into each token's seal. */
  generation: 'generation',
  /** Left by an evict: a token whose generation is below it never opens again. */
  floor: 'floor',
  /** Random per write of any kind: conditions compare it, so no attribute's type can defeat a condition. */
  revision: 'rev',
  provider: 'provider',
  owner: 'owner',
  leaseUntil: 'leaseUntil',
  failures: 'failures',
  retryAt: 'retryAt',
  lastError: 'lastError',
  failedAt: 'failedAt',
  /** Written by an evict whose charge held: the evictor's counter name, which pays the next lease's renewal. */
  evictedBy: 'evictedBy',
  /**
   * An evict under way (random per evict): the token it names is claimed while the evictor is charged, and
   * stays served. Other evicts are refused while it stands; the charge decides whether it is evicted.
   */
  evictClaim: 'evictClaim',
  /** Epoch ms after which an evict's claim no longer stands (its evictor died between claim and charge). */
  evictClaimUntil: 'evictClaimUntil',
  /** When a holder's token could not be sealed: waiters elsewhere then fetch their own (see the tier). */
  sealFailedAt: 'sealFailedAt',
  /**
   * With several regions only, the token's own expiry (epoch s): `expiresAt` is then the item's TTL alone,
   * kept later than the token while the item's `issuedFloor` still needs the item. Without regions it is
   * never written and `expiresAt` is both, as ever.
   */
  tokenExpiresAt: 'tokenExpiresAt',
  /**
   * Left by every evict: the evicted token's `issuedAt` (epoch s, the latest of the evicts). No token of the
   * key issued at or before it is written back by a container that kept it through a fault. With several
   * regions, no other region's token of the key issued at or before it is served in this region either; an
   * own token it covers was removed by the same write (and the `floor` raised), so a token fetched here
   * after the evict is served whatever its `issuedAt`.
   */
  issuedFloor: 'issuedFloor',
} as const;

/**
 * A provider's backoff record (`lambda/backoff-policy.ts`): one item per provider, shared by all its keys
 * and every container (per region with several). The TTL attribute is the token table's.
 */
export const PROVIDER_BACKOFF_ITEM = {
  keyPrefix: 'backoff#',
  /** Failed attempts in a row. */
  failures: 'failures',
  /** Epoch ms before which nobody asks the provider. */
  retryAt: 'retryAt',
  lastError: 'lastError',
  /** Who probes the provider after a step, until when (epoch ms). */
  probeOwner: 'probeOwner',
  probeUntil: 'probeUntil',
  revision: 'rev',
} as const;

/** A budget counter's item: one per counter and window. */
export const BUDGET_ITEM = {
  keyPrefix: 'budget#',
  spent: 'spent',
} as const;

/**
 * An in-use index item: the marks of the keys whose refresh point falls in one bucket of the schedule's
 * period, spread over a few shards (`due#<bucket start, epoch s>#<shard>`).
 */
export const IN_USE_ITEM = {
  keyPrefix: 'due#',
  /** A string set of encoded marks. */
  marks: 'marks',
} as const;

/**
 * How long one table call may take, retries included. A healthy table answers in milliseconds; past this
 * the table is treated as down and bypassed.
 */
export const TABLE_CALL_TIMEOUT_MS = 1000;

/**
 * A conditional write on the token table that another write may carry in its transaction (a lease that
 * charges a budget): both apply, or neither.
 */
export interface TableCharge {
  /** The update, as a transaction's item: table, key, expressions and condition. */
  readonly update: Update;
  /**
   * What a refusal of the condition means, given the item that refused it: the caller's error (a budget
   * spent), or undefined when it decides nothing (a counter this service never wrote): the write is then
   * made on its own, outside the transaction, as it was before transactions.
   */
  refusal(item: Record<string, AttributeValue> | undefined): Error | undefined;
}

/** A table call that did not answer within its bound. */
export class TableTimeoutError extends Error {
  override readonly name = 'TableTimeoutError';

  constructor(
    readonly operation: string,
    timeoutMs: number,
  ) {
    super(`DynamoDB ${operation} did not answer within ${timeoutMs} ms`);
  }
}

/** One bounded table call: aborted, and reported as a {@link TableTimeoutError}, once `timeoutMs` has passed. */
export async function boundedTableCall<T>(
  operation: string,
  timeoutMs: number,
  call: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  const abortSignal = AbortSignal.timeout(timeoutMs);
  try {
    return await call(abortSignal);
  } catch (error) {
    if (abortSignal.aborted) throw new TableTimeoutError(operation, timeoutMs);
    throw error;
  }
}

/** DynamoDB's answers that say "slow down": as good as a hung table for the caller who waits on them. */
const THROTTLES: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

export const isThrottle = (error: unknown): boolean => error instanceof Error && THROTTLES.has(error.name);

/**
 * A DynamoDB client bounded at the socket too: a connection that is not made, or a request that is not
 * answered, fails fast instead of holding the vend until the function times out.
 */
export function createTableClient(
  config: ConstructorParameters<typeof DynamoDBClient>[0] = {},
): DynamoDBClient {
  return new DynamoDBClient({
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 500, requestTimeout: TABLE_CALL_TIMEOUT_MS },
    ...config,
  });
}
