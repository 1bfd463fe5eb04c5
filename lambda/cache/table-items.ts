import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { BoundedMap } from '../bounded-map';
import { EVENTS } from '../contracts/metrics';
import type { RegionOwnedKeys } from '../contracts/region-owned-items';
import { boundedTableCall, TOKEN_ITEM, TOKEN_TABLE } from '../contracts/token-table';
import type { Log } from '../logging';
import { type RawItem, type Reading, readItem } from './table-item';

/**
 * The key items' I/O, and nothing else: one strongly consistent read, one conditional update, each bounded,
 * and every item read by type (see {@link readItem}). It decides nothing about what it reads or writes.
 */

/** Conditional writes one call makes at most before it gives up on a key others keep changing. */
export const MAX_WRITE_ATTEMPTS = 3;
/** The pause between them, times the attempt: the writers that raced spread out. */
export const WRITE_RETRY_PAUSE_MS = 20;

/** A conditional write's answer: applied, or refused by its condition, with the item that refused it. */
export type WriteResult = { applied: true } | { applied: false; current?: RawItem };

/** A write's condition and the values it names. */
export interface Seen {
  readonly condition: string;
  readonly values: RawItem;
}

/** An update, its condition and every value either names. */
export interface ItemWrite {
  readonly update: string;
  readonly condition: string;
  readonly values: RawItem;
}

/** An expression's placeholders: `#name` for each attribute of the item's layout. */
const NAMES: Record<string, string> = Object.fromEntries(
  [...Object.values(TOKEN_ITEM), TOKEN_TABLE.partitionKey].map((name) => [`#${name}`, name]),
);

/** Only the names an expression uses may be passed with it. */
export function namesFor(...expressions: string[]): Record<string, string> {
  const text = expressions.join(' ');
  return Object.fromEntries(
    Object.entries(NAMES).filter(([placeholder]) => new RegExp(`${placeholder}\\b`).test(text)),
  );
}

/** The condition that the item is still the one read: its revision unchanged (or still absent). */
export function unchanged(item: { revision?: AttributeValue } | undefined): Seen {
  if (item?.revision === undefined) return { condition: 'attribute_not_exists(#rev)', values: {} };
  return { condition: '#rev = :seenRevision', values: { ':seenRevision': item.revision } };
}

/** The condition that a corrupt item is still the one read: its revision, when that is of a type to compare. */
export function seenOverCorrupt(reading: Reading): Seen {
  const revision = reading.remains?.revision;
  // A revision of the wrong type cannot be compared: the item's existence is all a condition can name.
  const asRead = unchanged(reading.remains);
  return revision === undefined || typeof revision.S === 'string'
    ? { condition: `attribute_exists(#pk) AND ${asRead.condition}`, values: asRead.values }
    : { condition: 'attribute_exists(#pk)', values: {} };
}

/** The condition that the item read, sound or corrupt, is still there as read: what a rewrite names. */
export function seenAsRead(reading: Reading): Seen {
  return reading.corrupt ? { condition: 'attribute_exists(#pk)', values: {} } : unchanged(reading.item);
}

/** The table's items of this region's keys: read, conditionally updated, each call bounded. */
export class TableItems {
  /** Keys whose corrupt item this container has already reported: one line per key, not one per read. */
  private readonly reportedCorrupt = new BoundedMap<string, true>(1000);

  constructor(
    readonly client: DynamoDBClient,
    readonly tableName: string,
    private readonly callTimeoutMs: number,
    readonly keys: RegionOwnedKeys,
    private readonly log: Log | undefined,
  ) {}

  /** One table call, bounded by the tier's timeout (`TableTimeoutError` past it). */
  bounded<T>(operation: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return boundedTableCall(operation, this.callTimeoutMs, call);
  }

  /** The table and key of one key's own item. */
  address(key: string): { TableName: string; Key: RawItem } {
    return { TableName: this.tableName, Key: { [TOKEN_TABLE.partitionKey]: { S: this.keys.own(key) } } };
  }

  /** The key's item, read strongly consistent: an eviction, a token or a lease written a moment ago elsewhere shows. */
  async get(key: string): Promise<Reading> {
    const { Item: raw } = await this.bounded('get', (abortSignal) =>
      this.client.send(new GetItemCommand({ ...this.address(key), ConsistentRead: true }), { abortSignal }),
    );
    return this.reading(key, raw);
  }

  /** One conditional UpdateItem on the key's own item: applied, or refused with the item that refused it. */
  async update(operation: string, key: string, write: ItemWrite): Promise<WriteResult> {
    try {
      await this.bounded(operation, (abortSignal) =>
        this.client.send(
          new UpdateItemCommand({
            ...this.address(key),
            UpdateExpression: write.update,
            ConditionExpression: write.condition,
            ExpressionAttributeNames: namesFor(write.update, write.condition),
            ExpressionAttributeValues: write.values,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
          { abortSignal },
        ),
      );
      return { applied: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return error.Item ? { applied: false, current: error.Item } : { applied: false };
    }
  }

  /**
   * An item as stored (read, or returned by a refusal), read by type: absent, sound, or corrupt. A corrupt
   * item is reported once per key and container.
   */
  reading(key: string, raw: RawItem | undefined): Reading {
    if (!raw) return {};
    const reading = readItem(raw);
    if (reading.kind === 'item') return { item: reading.item };
    if (!this.reportedCorrupt.get(key)) {
      this.reportedCorrupt.set(key, true);
      this.log?.warn('an item in the table has attributes of the wrong type or shape; treated as absent', {
        event: EVENTS.cacheItemCorrupt,
        attributes: reading.bad.slice(0, 10),
      });
    }
    return { corrupt: reading.bad, remains: reading.remains };
  }
}
