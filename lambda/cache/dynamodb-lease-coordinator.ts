import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { ErrorCode } from '../errors';
import { TOKEN_TABLE } from './dynamodb-token-store';
import {
  backoffUntil,
  type FetchCoordinator,
  type Lease,
  type LeaseOutcome,
  type LeaseResult,
  type LeaseState,
} from './fetch-coordinator';

/** Lease items live beside the tokens, under their own key, and vanish by TTL an hour after last use. */
const leaseKey = (key: string) => `lease#${key}`;
const LEASE_ITEM_TTL_SECONDS = 3600;

export interface DynamoDbLeaseCoordinatorOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly now?: () => number;
  readonly random?: () => number;
}

/**
 * The cross-container single flight: a lease item per key, taken with a conditional write.
 *
 * Timeline of one key: container A finds no token and takes the lease (the write succeeds only when no lease
 * is live and no backoff is running). B, C… fail the condition, learn from the old item who holds it until
 * when, and poll the token item. A writes the token, then deletes the lease — in that order, so whoever
 * takes the next lease finds the token on its double-check. If A dies, its lease simply runs out and the
 * next caller takes over. If A fails, it says so on the item (code and time), so the waiting callers share
 * its answer instead of each asking the provider in turn, and counts the failure; enough in a row start a
 * backoff that every container honours.
 */
export class DynamoDbLeaseCoordinator implements FetchCoordinator {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(options: DynamoDbLeaseCoordinatorOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  async acquire(key: string, leaseMs: number): Promise<LeaseResult> {
    const nowMs = this.now();
    const owner = randomUUID();
    try {
      const { Attributes: old } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [TOKEN_TABLE.partitionKey]: { S: leaseKey(key) } },
          UpdateExpression: 'SET #owner = :owner, #leaseUntil = :leaseUntil, #retryAt = :zero, #ttl = :ttl',
          // Free when no lease is live and no backoff runs; an expired lease is a holder that died.
          ConditionExpression:
            'attribute_not_exists(#pk) OR (#leaseUntil < :now AND (attribute_not_exists(#retryAt) OR #retryAt < :now))',
          ExpressionAttributeNames: {
            '#pk': TOKEN_TABLE.partitionKey,
            '#owner': 'owner',
            '#leaseUntil': 'leaseUntil',
            '#retryAt': 'retryAt',
            '#ttl': TOKEN_TABLE.ttlAttribute,
          },
          ExpressionAttributeValues: {
            ':owner': { S: owner },
            ':leaseUntil': { N: String(nowMs + leaseMs) },
            ':now': { N: String(nowMs) },
            ':zero': { N: '0' },
            ':ttl': { N: String(Math.floor(nowMs / 1000) + LEASE_ITEM_TTL_SECONDS) },
          },
          ReturnValues: 'ALL_OLD',
          // The loser learns what won: who holds the lease until when, or until when the backoff runs.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'acquired', lease: { key, owner, priorFailures: Number(old?.failures?.N ?? 0) } };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const item = error.Item ?? {};
      const retryAtMs = Number(item.retryAt?.N ?? 0);
      if (retryAtMs >= nowMs) {
        return {
          kind: 'backoff',
          retryAtMs,
          lastError: (item.lastError?.S as ErrorCode) ?? 'upstream_unavailable',
        };
      }
      return { kind: 'held', leaseUntilMs: Number(item.leaseUntil?.N ?? nowMs) };
    }
  }

  async peek(key: string): Promise<LeaseState | undefined> {
    const { Item: item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [TOKEN_TABLE.partitionKey]: { S: leaseKey(key) } },
        ConsistentRead: true,
      }),
    );
    if (!item) return undefined;
    return {
      leaseUntilMs: Number(item.leaseUntil?.N ?? 0),
      ...(item.failedAt?.N === undefined ? {} : { failedAtMs: Number(item.failedAt.N) }),
      ...(item.lastError?.S === undefined ? {} : { lastError: item.lastError.S as ErrorCode }),
    };
  }

  async release(lease: Lease, outcome: LeaseOutcome): Promise<void> {
    const condition = {
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
    };
    try {
      if (outcome.kind === 'succeeded') {
        await this.client.send(
          new DeleteItemCommand({
            TableName: this.tableName,
            Key: { [TOKEN_TABLE.partitionKey]: { S: leaseKey(lease.key) } },
            ...condition,
            ExpressionAttributeValues: { ':owner': { S: lease.owner } },
          }),
        );
        return;
      }
      const failures = outcome.counts ? lease.priorFailures + 1 : lease.priorFailures;
      const retryAtMs = outcome.counts ? backoffUntil(failures, this.now(), this.random) : 0;
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [TOKEN_TABLE.partitionKey]: { S: leaseKey(lease.key) } },
          UpdateExpression:
            'SET #leaseUntil = :zero, #failures = :failures, #retryAt = :retryAt, #lastError = :lastError, #failedAt = :now',
          ...condition,
          ExpressionAttributeNames: {
            ...condition.ExpressionAttributeNames,
            '#leaseUntil': 'leaseUntil',
            '#failures': 'failures',
            '#retryAt': 'retryAt',
            '#lastError': 'lastError',
            '#failedAt': 'failedAt',
          },
          ExpressionAttributeValues: {
            ':owner': { S: lease.owner },
            ':zero': { N: '0' },
            ':failures': { N: String(failures) },
            ':retryAt': { N: String(retryAtMs) },
            ':lastError': { S: outcome.error },
            ':now': { N: String(this.now()) },
          },
        }),
      );
    } catch (error) {
      // Someone took over after our lease ran out: theirs is the item now.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
