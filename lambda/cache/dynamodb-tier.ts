import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { recordFailure } from '../backoff-policy';
import type { ErrorCode } from '../errors';
import type { Log } from '../logging';
import type { Lease, LeaseOutcome, LeaseResult, SharedTier, TierItem } from './shared-tier';
import { SealError, type TokenSealer } from './token-sealer';
import type { CachedToken } from './token-store';

/** The table's layout, shared with the CDK stack and the local run. */
export const TOKEN_TABLE = {
  partitionKey: 'pk',
  /** Epoch seconds; the table's TTL attribute. TTL deletes late, so every read checks it too. */
  ttlAttribute: 'expiresAt',
} as const;

/** A key that has only ever been leased (its first fetch failed) still goes, by TTL, an hour later. */
const LEASE_ONLY_TTL_SECONDS = 3600;

/**
 * How long one table call may take, retries included. A healthy table answers in milliseconds; past this
 * the table is treated as down and bypassed (see {@link FallbackTier}).
 */
export const TABLE_CALL_TIMEOUT_MS = 1000;

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

export interface DynamoDbTierOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly callTimeoutMs?: number;
  /** Seals each token before it is written, opens it when read: the table never holds a token in the clear. */
  readonly sealer: TokenSealer;
  /** Where a sealed token that does not open is reported (`sealed_token_rejected`). */
  readonly log?: Log;
  readonly now?: () => number;
  readonly random?: () => number;
}

type Item = Record<string, AttributeValue>;

const NAMES = {
  '#pk': TOKEN_TABLE.partitionKey,
  '#sealed': 'sealed',
  '#accessToken': 'accessToken',
  '#scope': 'scope',
  '#issuedAt': 'issuedAt',
  '#expiresAt': TOKEN_TABLE.ttlAttribute,
  '#version': 'version',
  '#provider': 'provider',
  '#owner': 'owner',
  '#leaseUntil': 'leaseUntil',
  '#failures': 'failures',
  '#retryAt': 'retryAt',
  '#lastError': 'lastError',
  '#failedAt': 'failedAt',
  '#evictedBy': 'evictedBy',
} as const;

const LEASE_AND_FAILURES = ['#owner', '#leaseUntil', '#failures', '#retryAt', '#lastError', '#failedAt'];

/** Only the names an expression uses may be passed with it. */
function namesFor(...expressions: string[]): Record<string, string> {
  const text = expressions.join(' ');
  return Object.fromEntries(Object.entries(NAMES).filter(([placeholder]) => text.includes(placeholder)));
}

/**
 * The shared tier on DynamoDB: one item per key.
 *
 * The item holds the token and its `version` (one GetItem on a hit) and, while someone fetches, a lease:
 * owner and `leaseUntil`. Timeline of a miss: container A read no usable token and takes the lease with one
 * conditional UpdateItem — free only when no lease is live, no backoff runs, and the version is still the
 * one A read, so a token written since makes the write fail and hands A the item instead. B, C… fail the
 * condition and learn from the old item who holds it until when; they poll the item. A writes its token
 * (with a new version) and clears the lease in one UpdateItem. If A dies, its lease runs out and the next
 * caller takes over. If A fails, it says so on the item (error and time), so waiting callers share its
 * answer instead of each asking the provider; enough failures in a row start a backoff every container
 * honours. Every call is bounded by `callTimeoutMs` and fails with {@link TableTimeoutError} past it.
 */
export class DynamoDbTier implements SharedTier {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly callTimeoutMs: number;
  private readonly sealer: TokenSealer;
  private readonly log: Log | undefined;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(options: DynamoDbTierOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.callTimeoutMs = options.callTimeoutMs ?? TABLE_CALL_TIMEOUT_MS;
    this.sealer = options.sealer;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  async read(key: string): Promise<TierItem | undefined> {
    // A strongly consistent read sees an eviction, a token or a lease written a moment ago elsewhere.
    const { Item: item } = await this.bounded('get', (abortSignal) =>
      this.client.send(new GetItemCommand({ ...this.address(key), ConsistentRead: true }), { abortSignal }),
    );
    return item ? this.itemOf(key, item) : undefined;
  }

  async store(key: string, token: CachedToken, providerId: string): Promise<void> {
    const { update, values } = await this.tokenUpdate(key, token, providerId, false);
    await this.bounded('store', (abortSignal) =>
      this.client.send(
        new UpdateItemCommand({
          ...this.address(key),
          UpdateExpression: update,
          ExpressionAttributeNames: namesFor(update),
          ExpressionAttributeValues: values,
        }),
        { abortSignal },
      ),
    );
  }

  async evict(key: string, version: string, evictedBy: string): Promise<boolean> {
    // Refused when renewed or evicted by someone else since it was read: not the token the caller meant.
    const result = await this.conditionalUpdate(
      'evict',
      key,
      'SET #evictedBy = :evictedBy REMOVE #sealed, #accessToken, #scope, #issuedAt, #version',
      '#version = :version',
      { ':version': { S: version }, ':evictedBy': { S: evictedBy } },
    );
    return result.applied;
  }

  async acquire(key: string, leaseMs: number, seenVersion: string | undefined): Promise<LeaseResult> {
    const nowMs = this.now();
    const owner = randomUUID();
    // The first lease after an eviction takes the evictor's payment off the item: it pays for one renewal.
    const update =
      'SET #owner = :owner, #leaseUntil = :leaseUntil, #expiresAt = if_not_exists(#expiresAt, :leaseTtl) REMOVE #evictedBy';
    const condition = [
      '(attribute_not_exists(#leaseUntil) OR #leaseUntil < :now)',
      '(attribute_not_exists(#retryAt) OR #retryAt < :now)',
      seenVersion === undefined ? 'attribute_not_exists(#version)' : '#version = :seen',
    ].join(' AND ');
    const result = await this.conditionalUpdate('lease', key, update, condition, {
      ':owner': { S: owner },
      ':leaseUntil': { N: String(nowMs + leaseMs) },
      ':leaseTtl': { N: String(Math.floor(nowMs / 1000) + LEASE_ONLY_TTL_SECONDS) },
      ':now': { N: String(nowMs) },
      ...(seenVersion === undefined ? {} : { ':seen': { S: seenVersion } }),
    });
    if (result.applied) {
      const paidBy = result.old?.evictedBy?.S;
      return {
        kind: 'acquired',
        lease: {
          key,
          owner,
          priorFailures: Number(result.old?.failures?.N ?? 0),
          ...(paidBy === undefined ? {} : { paidBy }),
        },
      };
    }
    // The loser learns what won: a live lease, a running backoff, or a token written since it read.
    const item = result.current;
    const retryAtMs = Number(item?.retryAt?.N ?? 0);
    if (retryAtMs >= nowMs) {
      return {
        kind: 'backoff',
        retryAtMs,
        lastError: (item?.lastError?.S as ErrorCode) ?? 'upstream_unavailable',
      };
    }
    const leaseUntilMs = Number(item?.leaseUntil?.N ?? 0);
    if (leaseUntilMs >= nowMs) return { kind: 'held', leaseUntilMs };
    return item ? { kind: 'superseded', item: await this.itemOf(key, item) } : { kind: 'superseded' };
  }

  async release(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    if (outcome.kind === 'succeeded') {
      const { update, values } = await this.tokenUpdate(lease.key, outcome.token, outcome.providerId, true);
      // If the lease ran out and someone took over, the token is written all the same: it is valid, and
      // theirs will follow.
      if (!(await this.ifOwner(lease, update, values))) {
        await this.store(lease.key, outcome.token, outcome.providerId);
      }
      return;
    }
    if (outcome.kind === 'abandoned') {
      await this.ifOwner(lease, 'REMOVE #owner, #leaseUntil', {});
      return;
    }
    const failure = recordFailure(lease.priorFailures, outcome.error, this.now(), this.random);
    await this.ifOwner(
      lease,
      'SET #leaseUntil = :zero, #failures = :failures, #retryAt = :retryAt, #lastError = :lastError, #failedAt = :failedAt',
      {
        ':zero': { N: '0' },
        ':failures': { N: String(failure.failures) },
        ':retryAt': { N: String(failure.retryAtMs) },
        ':lastError': { S: failure.lastError },
        ':failedAt': { N: String(failure.failedAtMs) },
      },
    );
  }

  /**
   * The update that writes a sealed token with a new version; under a lease it also clears lease and
   * failures. Items of before sealing lose their clear-text token on the way.
   */
  private async tokenUpdate(
    key: string,
    token: CachedToken,
    providerId: string,
    endsLease: boolean,
  ): Promise<{ update: string; values: Item }> {
    const sealed = await this.sealer.seal(token, { key, providerId });
    const set =
      'SET #sealed = :sealed, #issuedAt = :issuedAt, #expiresAt = :expiresAt, #version = :version, #provider = :provider';
    const remove = ['#accessToken', '#scope', '#evictedBy', ...(endsLease ? LEASE_AND_FAILURES : [])];
    return {
      update: `${set} REMOVE ${remove.join(', ')}`,
      values: {
        ':sealed': { B: sealed },
        ':issuedAt': { N: String(token.issuedAt) },
        ':expiresAt': { N: String(token.expiresAt) },
        ':version': { S: randomUUID() },
        ':provider': { S: providerId },
      },
    };
  }

  /**
   * The item's token, opened; undefined when there is none, it has expired (TTL deletes late), or it does not
   * open (copied from another key, tampered with, or sealed by another key): such a token is a miss, never
   * served and never an error.
   */
  private async tokenOf(key: string, item: Item): Promise<CachedToken | undefined> {
    const sealed = item.sealed?.B;
    const providerId = item.provider?.S;
    const issuedAt = Number(item.issuedAt?.N);
    const expiresAt = Number(item[TOKEN_TABLE.ttlAttribute]?.N);
    if (!sealed || !providerId || !Number.isFinite(issuedAt) || !Number.isFinite(expiresAt)) return undefined;
    if (expiresAt <= this.now() / 1000) return undefined;
    try {
      return await this.sealer.open(sealed, { issuedAt, expiresAt }, { key, providerId });
    } catch (error) {
      if (!(error instanceof SealError)) throw error;
      this.log?.warn('a sealed token in the table does not open; treated as a miss', {
        event: 'sealed_token_rejected',
        provider: providerId,
        reason: error.message,
      });
      return undefined;
    }
  }

  /** An update that applies only while the lease is still ours; false when someone else's it is now. */
  private async ifOwner(lease: Lease, update: string, values: Item): Promise<boolean> {
    const result = await this.conditionalUpdate('release', lease.key, update, '#owner = :owner', {
      ...values,
      ':owner': { S: lease.owner },
    });
    return result.applied;
  }

  /**
   * One conditional UpdateItem: applied, with the item as it was (`ALL_OLD`), or refused by its condition,
   * with the item that refused it.
   */
  private async conditionalUpdate(
    operation: string,
    key: string,
    update: string,
    condition: string,
    values: Item,
  ): Promise<{ applied: true; old?: Item } | { applied: false; current?: Item }> {
    try {
      const { Attributes: old } = await this.bounded(operation, (abortSignal) =>
        this.client.send(
          new UpdateItemCommand({
            ...this.address(key),
            UpdateExpression: update,
            ConditionExpression: condition,
            ExpressionAttributeNames: namesFor(update, condition),
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_OLD',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
          { abortSignal },
        ),
      );
      return old ? { applied: true, old } : { applied: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return error.Item ? { applied: false, current: error.Item } : { applied: false };
    }
  }

  private async itemOf(key: string, item: Item): Promise<TierItem> {
    const token = await this.tokenOf(key, item);
    return {
      leaseUntilMs: Number(item.leaseUntil?.N ?? 0),
      // The version stays visible when the token has expired, so the lease condition can still name it.
      ...(item.version?.S ? { version: item.version.S } : {}),
      ...(token && item.version?.S ? { token } : {}),
      ...(item.failedAt?.N === undefined ? {} : { failedAtMs: Number(item.failedAt.N) }),
      ...(item.lastError?.S === undefined ? {} : { lastError: item.lastError.S as ErrorCode }),
    };
  }

  /** One bounded call: aborted, and reported as a timeout, once `callTimeoutMs` has passed. */
  private async bounded<T>(operation: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const abortSignal = AbortSignal.timeout(this.callTimeoutMs);
    try {
      return await call(abortSignal);
    } catch (error) {
      if (abortSignal.aborted) throw new TableTimeoutError(operation, this.callTimeoutMs);
      throw error;
    }
  }

  /** The table and key of one key's item. */
  private address(key: string): { TableName: string; Key: Item } {
    return { TableName: this.tableName, Key: { [TOKEN_TABLE.partitionKey]: { S: key } } };
  }
}
