import {
  type AttributeValue,
  BatchGetItemCommand,
  type DynamoDBClient,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { RegionOwnedKeys, type TableRegions } from '../contracts/region-owned-items';
import { boundedTableCall, IN_USE_ITEM, TABLE_CALL_TIMEOUT_MS, TOKEN_TABLE } from '../contracts/token-table';
import {
  bucketOf,
  bucketsBetween,
  decodeMark,
  encodeMark,
  INDEX_SHARDS,
  type InUseIndex,
  type InUseMark,
  latestPerKey,
  shardOf,
} from './in-use-index';

export interface DynamoDbInUseIndexOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** The schedule's period: one bucket per period. */
  readonly periodSeconds: number;
  readonly callTimeoutMs?: number;
  /** @default one region */
  readonly regions?: TableRegions;
}

/** A bucket's items go by TTL this long after the bucket ends: a late run still finds them. */
const BUCKET_KEPT_SECONDS = 3600;
/** BatchGetItem's own limit of keys per call. */
const MAX_BATCH_KEYS = 100;
/** Rounds of asking again for the keys a BatchGetItem left unprocessed (throttling). */
const MAX_BATCH_ROUNDS = 3;

/**
 * The in-use index in the token table: a mark is one UpdateItem (ADD to the bucket's string set), a run's
 * read one BatchGetItem of the buckets due now, never a Scan.
 *
 * With several regions the marks are the own region's (see {@link RegionOwnedKeys}): each region's
 * refresher renews the keys its own callers use, in its own region's items.
 */
export class DynamoDbInUseIndex implements InUseIndex {
  private readonly callTimeoutMs: number;
  private readonly keys: RegionOwnedKeys;

  constructor(private readonly options: DynamoDbInUseIndexOptions) {
    this.callTimeoutMs = options.callTimeoutMs ?? TABLE_CALL_TIMEOUT_MS;
    this.keys = new RegionOwnedKeys(options.regions);
  }

  async mark(mark: InUseMark): Promise<void> {
    const bucket = bucketOf(mark.renewAt, this.options.periodSeconds);
    await this.bounded('mark', (abortSignal) =>
      this.options.client.send(
        new UpdateItemCommand({
          TableName: this.options.tableName,
          Key: { [TOKEN_TABLE.partitionKey]: { S: this.itemKey(bucket, shardOf(mark.key)) } },
          UpdateExpression: 'ADD #marks :mark SET #ttl = :ttl',
          ExpressionAttributeNames: { '#marks': IN_USE_ITEM.marks, '#ttl': TOKEN_TABLE.ttlAttribute },
          ExpressionAttributeValues: {
            ':mark': { SS: [encodeMark(mark)] },
            ':ttl': { N: String(bucket + this.options.periodSeconds + BUCKET_KEPT_SECONDS) },
          },
        }),
        { abortSignal },
      ),
    );
  }

  async due(fromSeconds: number, toSeconds: number): Promise<InUseMark[]> {
    const { partitionKey } = TOKEN_TABLE;
    const keys: Array<Record<string, AttributeValue>> = bucketsBetween(
      fromSeconds,
      toSeconds,
      this.options.periodSeconds,
    ).flatMap((bucket) =>
      Array.from({ length: INDEX_SHARDS }, (_, shard) => ({
        [partitionKey]: { S: this.itemKey(bucket, shard) },
      })),
    );
    const marks: InUseMark[] = [];
    for (let start = 0; start < keys.length; start += MAX_BATCH_KEYS) {
      let pending = keys.slice(start, start + MAX_BATCH_KEYS);
      for (let round = 1; round <= MAX_BATCH_ROUNDS && pending.length > 0; round++) {
        const answer = await this.bounded('due', (abortSignal) =>
          this.options.client.send(
            new BatchGetItemCommand({
              RequestItems: {
                [this.options.tableName]: {
                  Keys: pending,
                  ProjectionExpression: '#marks',
                  ExpressionAttributeNames: { '#marks': IN_USE_ITEM.marks },
                },
              },
            }),
            { abortSignal },
          ),
        );
        for (const item of answer.Responses?.[this.options.tableName] ?? []) {
          for (const stored of item[IN_USE_ITEM.marks]?.SS ?? []) {
            const mark = decodeMark(stored);
            if (mark) marks.push(mark);
          }
        }
        pending = answer.UnprocessedKeys?.[this.options.tableName]?.Keys ?? [];
      }
    }
    return latestPerKey(marks, fromSeconds, toSeconds);
  }

  private itemKey(bucket: number, shard: number): string {
    return this.keys.own(`${IN_USE_ITEM.keyPrefix}${bucket}#${shard}`);
  }

  private bounded<T>(operation: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return boundedTableCall(operation, this.callTimeoutMs, call);
  }
}
