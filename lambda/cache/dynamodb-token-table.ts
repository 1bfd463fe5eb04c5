import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { ErrorCode } from '../errors';
import {
  backoffUntil,
  type FetchCoordinator,
  type Lease,
  type LeaseOutcome,
  type LeaseResult,
  type LeaseState,
} from './fetch-coordinator';
import type { CachedToken, TokenStore } from './token-store';

/** The table's layout, shared with the CDK stack and the local run. */
export const TOKEN_TABLE = {
  partitionKey: 'pk',
  /** Epoch seconds; the table's TTL attribute. TTL deletes late, so every read checks it too. */
  ttlAttribute: 'expiresAt',
} as const;

/** A key that has only ever been leased (its first fetch failed) still goes, by TTL, an hour later. */
const LEASE_ONLY_TTL_SECONDS = 3600;

export interface DynamoDbTokenTableOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly now?: () => number;
  readonly random?: () => number;
}

type Item = Record<string, AttributeValue>;

const NAMES = {
  '#pk': TOKEN_TABLE.partitionKey,
  '#accessToken': 'accessToken',
  '#scope': 'scope',
  '#issuedAt': 'issuedAt',
  '#expiresAt': TOKEN_TABLE.ttlAttribute,
  '#provider': 'provider',
  '#owner': 'owner',
  '#leaseUntil': 'leaseUntil',
  '#failures': 'failures',
  '#retryAt': 'retryAt',
  '#lastError': 'lastError',
  '#failedAt': 'failedAt',
} as const;

/** Only the names an expression uses may be passed with it. */
function namesFor(...expressions: string[]): Record<string, string> {
  const text = expressions.join(' ');
  return Object.fromEntries(Object.entries(NAMES).filter(([placeholder]) => text.includes(placeholder)));
}

function tokenOf(item: Item | undefined): CachedToken | undefined {
  const accessToken = item?.accessToken?.S;
  const issuedAt = Number(item?.issuedAt?.N);
  const expiresAt = Number(item?.[TOKEN_TABLE.ttlAttribute]?.N);
  if (!accessToken || !Number.isFinite(issuedAt) || !Number.isFinite(expiresAt)) return undefined;
  const scope = item?.scope?.S;
  return scope === undefined
    ? { accessToken, issuedAt, expiresAt }
    : { accessToken, issuedAt, expiresAt, scope };
}

/**
 * The shared cache every container reads, and the cross-container single flight, on one item per key.
 *
 * The item holds the token (one GetItem on a hit) and, while someone fetches, a lease: owner and
 * `leaseUntil`. Timeline of a miss: container A read no usable token and takes the lease with one conditional
 * UpdateItem — free only when no lease is live, no backoff runs, and the token is still the one A read, so a
 * token written since makes the write fail and hands A that token instead. B, C… fail the condition and learn
 * from the old item who holds it until when; they poll the item. A writes its token and clears the lease in
 * one UpdateItem. If A dies, its lease runs out and the next caller takes over. If A fails, it says so on the
 * item (error and time), so waiting callers share its answer instead of each asking the provider, and counts
 * the failure; enough in a row start a backoff that every container honours.
 */
export class DynamoDbTokenTable implements TokenStore, FetchCoordinator {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(options: DynamoDbTokenTableOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  async get(key: string): Promise<CachedToken | undefined> {
    return tokenOf(await this.read(key));
  }

  /** Writes the token and leaves any lease or backoff on the item as it is. */
  async put(key: string, token: CachedToken, context: { readonly providerId: string }): Promise<void> {
    await this.writeToken(key, token, context.providerId);
  }

  /** Evicts the token; a lease or backoff on the key goes with it. */
  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteItemCommand(this.address(key)));
  }

  async peek(key: string): Promise<LeaseState | undefined> {
    const item = await this.read(key);
    if (!item) return undefined;
    const token = tokenOf(item);
    return {
      leaseUntilMs: Number(item.leaseUntil?.N ?? 0),
      ...(item.failedAt?.N === undefined ? {} : { failedAtMs: Number(item.failedAt.N) }),
      ...(item.lastError?.S === undefined ? {} : { lastError: item.lastError.S as ErrorCode }),
      ...(token ? { token } : {}),
    };
  }

  async acquire(key: string, leaseMs: number, seen?: CachedToken): Promise<LeaseResult> {
    const nowMs = this.now();
    const owner = randomUUID();
    const update =
      'SET #owner = :owner, #leaseUntil = :leaseUntil, #expiresAt = if_not_exists(#expiresAt, :leaseTtl)';
    const condition = [
      '(attribute_not_exists(#leaseUntil) OR #leaseUntil < :now)',
      '(attribute_not_exists(#retryAt) OR #retryAt < :now)',
      seen ? '#accessToken = :seen' : 'attribute_not_exists(#accessToken)',
    ].join(' AND ');
    try {
      const { Attributes: old } = await this.client.send(
        new UpdateItemCommand({
          ...this.address(key),
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: namesFor(update, condition),
          ExpressionAttributeValues: {
            ':owner': { S: owner },
            ':leaseUntil': { N: String(nowMs + leaseMs) },
            ':leaseTtl': { N: String(Math.floor(nowMs / 1000) + LEASE_ONLY_TTL_SECONDS) },
            ':now': { N: String(nowMs) },
            ...(seen ? { ':seen': { S: seen.accessToken } } : {}),
          },
          ReturnValues: 'ALL_OLD',
          // The loser learns what won: a live lease, a running backoff, or a token written since it read.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'acquired', lease: { key, owner, priorFailures: Number(old?.failures?.N ?? 0) } };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const item = error.Item;
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
      const token = tokenOf(item);
      return token ? { kind: 'superseded', token } : { kind: 'superseded' };
    }
  }

  async release(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    if (outcome.kind === 'succeeded') {
      if (outcome.stored) {
        await this.writeToken(lease.key, outcome.stored.token, outcome.stored.providerId, lease);
        return;
      }
      await this.ifOwner(lease, 'REMOVE #owner, #leaseUntil, #failures, #retryAt, #lastError, #failedAt', {});
      return;
    }
    const failures = outcome.counts ? lease.priorFailures + 1 : lease.priorFailures;
    await this.ifOwner(
      lease,
      'SET #leaseUntil = :zero, #failures = :failures, #retryAt = :retryAt, #lastError = :lastError, #failedAt = :now',
      {
        ':zero': { N: '0' },
        ':failures': { N: String(failures) },
        ':retryAt': { N: String(outcome.counts ? backoffUntil(failures, this.now(), this.random) : 0) },
        ':lastError': { S: outcome.error },
        ':now': { N: String(this.now()) },
      },
    );
  }

  /**
   * Writes a token. Under a lease it also clears the lease and the failure count, in the same write, if the
   * lease is still ours; if it ran out and someone took over, the token is written all the same — it is
   * valid, and theirs will follow.
   */
  private async writeToken(
    key: string,
    token: CachedToken,
    providerId: string,
    lease?: Lease,
  ): Promise<void> {
    const set = `SET #accessToken = :accessToken, #issuedAt = :issuedAt, #expiresAt = :expiresAt, #provider = :provider${
      token.scope === undefined ? '' : ', #scope = :scope'
    }`;
    const remove = [
      ...(token.scope === undefined ? ['#scope'] : []),
      ...(lease ? ['#owner', '#leaseUntil', '#failures', '#retryAt', '#lastError', '#failedAt'] : []),
    ];
    const update = remove.length > 0 ? `${set} REMOVE ${remove.join(', ')}` : set;
    const values: Item = {
      ':accessToken': { S: token.accessToken },
      ':issuedAt': { N: String(token.issuedAt) },
      ':expiresAt': { N: String(token.expiresAt) },
      ':provider': { S: providerId },
      ...(token.scope === undefined ? {} : { ':scope': { S: token.scope } }),
    };
    if (lease) {
      const written = await this.ifOwner(lease, update, values);
      if (written) return;
      return this.writeToken(key, token, providerId);
    }
    await this.client.send(
      new UpdateItemCommand({
        ...this.address(key),
        UpdateExpression: update,
        ExpressionAttributeNames: namesFor(update),
        ExpressionAttributeValues: values,
      }),
    );
  }

  /** An update that applies only while the lease is still ours; false when someone else's it is now. */
  private async ifOwner(lease: Lease, update: string, values: Item): Promise<boolean> {
    const condition = '#owner = :owner';
    try {
      await this.client.send(
        new UpdateItemCommand({
          ...this.address(lease.key),
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: namesFor(update, condition),
          ExpressionAttributeValues: { ...values, ':owner': { S: lease.owner } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private async read(key: string): Promise<Item | undefined> {
    // A strongly consistent read sees an eviction, a token or a lease written a moment ago elsewhere.
    const { Item: item } = await this.client.send(
      new GetItemCommand({ ...this.address(key), ConsistentRead: true }),
    );
    return item;
  }

  /** The table and key of one key's item. */
  private address(key: string): { TableName: string; Key: Item } {
    return { TableName: this.tableName, Key: { [TOKEN_TABLE.partitionKey]: { S: key } } };
  }
}
