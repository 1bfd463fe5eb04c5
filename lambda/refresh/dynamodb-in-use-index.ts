import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { BoundedMap } from '../bounded-map';
import { RegionOwnedKeys, type TableRegions } from '../contracts/region-owned-items';
import { boundedTableCall, IN_USE_ITEM, TABLE_CALL_TIMEOUT_MS, TOKEN_TABLE } from '../contracts/token-table';
import {
  bucketOf,
  bucketsBetween,
  type DueMarks,
  decodeMark,
  encodeMark,
  INDEX_SHARDS,
  type InUseIndex,
  type InUseMark,
  MARKS_PER_ITEM,
  MAX_INDEX_LEVELS,
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
  /** Marks one item holds before its writers spill into the next. @default MARKS_PER_ITEM */
  readonly marksPerItem?: number;
}

/** A bucket's items go by TTL this long after the bucket ends: a late run still finds them. */
const BUCKET_KEPT_SECONDS = 3600;
/** BatchGetItem's own limit of keys per call. */
const MAX_BATCH_KEYS = 100;
/** Rounds of asking again for the keys a BatchGetItem left unprocessed (throttling). */
const MAX_BATCH_ROUNDS = 3;
/** The item that records up to when the refresher's runs handed marks to the renewal queue. */
const PLANNED_ITEM = 'refresh#planned';
const PLANNED_UNTIL = 'until';

/** A shard's items are full up to its last level: the mark was not written, and the key renews on the request path. */
export class InUseIndexFull extends Error {
  override readonly name = 'InUseIndexFull';
}

/**
 * The in-use index in the token table: a mark is one UpdateItem (ADD to the string set of its bucket's
 * shard), a run's read one BatchGetItem of the buckets due, never a Scan.
 *
 * Layout that grows with the keys: a shard is a chain of items (`due#<bucket>#<shard>`, then `…#1`, `…#2`),
 * each taking marks only while it holds fewer than {@link MARKS_PER_ITEM} (a condition on the set's
 * `size`): a writer that finds one full goes on to the next, and remembers it. A reader reads the first
 * items of every shard, then the next item of each one it found full, and so on.
 *
 * With several regions the marks are the own region's (see {@link RegionOwnedKeys}): each region's
 * refresher renews the keys its own callers use, in its own region's items.
 */
export class DynamoDbInUseIndex implements InUseIndex {
  private readonly callTimeoutMs: number;
  private readonly keys: RegionOwnedKeys;
  private readonly marksPerItem: number;
  /** The first level of each bucket's shard this container last found with room. */
  private readonly openLevel = new BoundedMap<string, number>(1000);

  constructor(private readonly options: DynamoDbInUseIndexOptions) {
    this.callTimeoutMs = options.callTimeoutMs ?? TABLE_CALL_TIMEOUT_MS;
    this.keys = new RegionOwnedKeys(options.regions);
    this.marksPerItem = options.marksPerItem ?? MARKS_PER_ITEM;
  }

  async mark(mark: InUseMark): Promise<void> {
    const bucket = bucketOf(mark.renewAt, this.options.periodSeconds);
    const shard = shardOf(mark.key);
    const chain = `${bucket}#${shard}`;
    const stored = encodeMark(mark);
    for (let level = this.openLevel.get(chain) ?? 0; level < MAX_INDEX_LEVELS; level++) {
      try {
        await this.bounded('mark', (abortSignal) =>
          this.options.client.send(
            new UpdateItemCommand({
              TableName: this.options.tableName,
              Key: { [TOKEN_TABLE.partitionKey]: { S: this.itemKey(bucket, shard, level) } },
              UpdateExpression: 'ADD #marks :mark SET #ttl = :ttl',
              // Room left, or this very mark is there already (a retry): the set never outgrows its bound.
              ConditionExpression:
                'attribute_not_exists(#marks) OR size(#marks) < :room OR contains(#marks, :one)',
              ExpressionAttributeNames: { '#marks': IN_USE_ITEM.marks, '#ttl': TOKEN_TABLE.ttlAttribute },
              ExpressionAttributeValues: {
                ':mark': { SS: [stored] },
                ':one': { S: stored },
                ':room': { N: String(this.marksPerItem) },
                ':ttl': { N: String(bucket + this.options.periodSeconds + BUCKET_KEPT_SECONDS) },
              },
            }),
            { abortSignal },
          ),
        );
        this.openLevel.set(chain, level);
        return;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    throw new InUseIndexFull(`the index's shard ${shard} of bucket ${bucket} is full`);
  }

  async due(fromSeconds: number, toSeconds: number): Promise<DueMarks> {
    let chains = bucketsBetween(fromSeconds, toSeconds, this.options.periodSeconds).flatMap((bucket) =>
      Array.from({ length: INDEX_SHARDS }, (_, shard) => ({ bucket, shard })),
    );
    const marks: InUseMark[] = [];
    let malformed = 0;
    for (let level = 0; level < MAX_INDEX_LEVELS && chains.length > 0; level++) {
      const byKey = new Map(chains.map((chain) => [this.itemKey(chain.bucket, chain.shard, level), chain]));
      const full: typeof chains = [];
      for (const [key, stored] of await this.read([...byKey.keys()])) {
        for (const entry of stored) {
          const mark = decodeMark(entry);
          if (mark && mark.renewAt > fromSeconds && mark.renewAt <= toSeconds) marks.push(mark);
          else if (!mark) malformed += 1;
        }
        const chain = byKey.get(key);
        if (chain && stored.length >= this.marksPerItem) full.push(chain);
      }
      chains = full;
    }
    return { marks, malformed };
  }

  async plannedUntil(): Promise<number | undefined> {
    const answer = await this.bounded('due', (abortSignal) =>
      this.options.client.send(
        new GetItemCommand({
          TableName: this.options.tableName,
          Key: { [TOKEN_TABLE.partitionKey]: { S: this.keys.own(PLANNED_ITEM) } },
          ConsistentRead: true,
        }),
        { abortSignal },
      ),
    );
    const until = Number(answer.Item?.[PLANNED_UNTIL]?.N);
    return Number.isFinite(until) ? until : undefined;
  }

  async planned(untilSeconds: number): Promise<void> {
    try {
      await this.bounded('due', (abortSignal) =>
        this.options.client.send(
          new UpdateItemCommand({
            TableName: this.options.tableName,
            Key: { [TOKEN_TABLE.partitionKey]: { S: this.keys.own(PLANNED_ITEM) } },
            UpdateExpression: 'SET #until = :until, #ttl = :ttl',
            // Two runs at once (an at-least-once schedule): the watermark only ever moves forward.
            ConditionExpression: 'attribute_not_exists(#until) OR #until < :until',
            ExpressionAttributeNames: { '#until': PLANNED_UNTIL, '#ttl': TOKEN_TABLE.ttlAttribute },
            ExpressionAttributeValues: {
              ':until': { N: String(untilSeconds) },
              ':ttl': { N: String(untilSeconds + BUCKET_KEPT_SECONDS) },
            },
          }),
          { abortSignal },
        ),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** The marks of each item asked for that exists, by its key. */
  private async read(itemKeys: readonly string[]): Promise<Map<string, string[]>> {
    const { partitionKey } = TOKEN_TABLE;
    const found = new Map<string, string[]>();
    for (let start = 0; start < itemKeys.length; start += MAX_BATCH_KEYS) {
      let pending: Array<Record<string, AttributeValue>> = itemKeys
        .slice(start, start + MAX_BATCH_KEYS)
        .map((key) => ({ [partitionKey]: { S: key } }));
      for (let round = 1; round <= MAX_BATCH_ROUNDS && pending.length > 0; round++) {
        const keys = pending;
        const answer = await this.bounded('due', (abortSignal) =>
          this.options.client.send(
            new BatchGetItemCommand({
              RequestItems: {
                [this.options.tableName]: {
                  Keys: keys,
                  ProjectionExpression: '#pk, #marks',
                  ExpressionAttributeNames: { '#pk': partitionKey, '#marks': IN_USE_ITEM.marks },
                },
              },
            }),
            { abortSignal },
          ),
        );
        for (const item of answer.Responses?.[this.options.tableName] ?? []) {
          const key = item[partitionKey]?.S;
          if (key !== undefined) found.set(key, item[IN_USE_ITEM.marks]?.SS ?? []);
        }
        pending = answer.UnprocessedKeys?.[this.options.tableName]?.Keys ?? [];
      }
      // Still unprocessed after the rounds: the run cannot say what is due, so it says it failed.
      if (pending.length > 0) throw new Error(`${pending.length} index items left unprocessed`);
    }
    return found;
  }

  private itemKey(bucket: number, shard: number, level: number): string {
    const base = `${IN_USE_ITEM.keyPrefix}${bucket}#${shard}`;
    return this.keys.own(level === 0 ? base : `${base}#${level}`);
  }

  private bounded<T>(operation: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return boundedTableCall(operation, this.callTimeoutMs, call);
  }
}
