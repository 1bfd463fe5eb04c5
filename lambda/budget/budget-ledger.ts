import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  type Update,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { BoundedMap } from '../bounded-map';
import { RegionOwnedKeys, type TableRegions } from '../contracts/region-owned-items';
import { BUDGET_ITEM, boundedTableCall, TABLE_CALL_TIMEOUT_MS, TOKEN_TABLE } from '../contracts/token-table';

/** Counts spending against a limit per window: true while the limit is not reached, and the spend is counted. */
export interface BudgetLedger {
  spend(counter: string, limit: number, windowEndsMs: number): Promise<boolean>;
  /** A ledger on the token table: the same spend as a write a lease's transaction can carry. */
  spendWrite?(counter: string, limit: number, windowEndsMs: number): SpendWrite;
}

/** A spend as a conditional write another write can carry in its transaction (see {@link TableCharge}). */
export interface SpendWrite {
  readonly update: Update;
  /** Whether the item that refused it is a counter this service wrote at its limit: a genuine refusal. */
  spent(item: Record<string, AttributeValue> | undefined): boolean;
}

/** A counter's item outlives its window by this much, then TTL removes it. */
const COUNTER_TTL_GRACE_SECONDS = 120;

/**
 * Counters on the token table, so every container counts against the same budget: one conditional
 * UpdateItem per spend (`ADD` below the limit), on an item of its own per counter and window that TTL removes.
 *
 * A counter this service never writes (not a whole number from 0 to the limit, or not expiring with its
 * window) is ignored: the spend resets it to one, so a table writer cannot refuse a caller or a provider
 * its budget with an impossible value. `onCorrupt` hears of each.
 *
 * With several regions each region counts on its own item (see {@link RegionOwnedKeys}): a global table's
 * last writer wins would otherwise drop the spends one region counted while the other's write replicated
 * over them. A budget is therefore a budget per region.
 */
export class DynamoDbBudgetLedger implements BudgetLedger {
  private readonly keys: RegionOwnedKeys;

  constructor(
    private readonly options: {
      client: DynamoDBClient;
      tableName: string;
      callTimeoutMs?: number;
      onCorrupt?: (counter: string) => void;
      /** @default one region */
      regions?: TableRegions;
    },
  ) {
    this.keys = new RegionOwnedKeys(options.regions);
  }

  async spend(counter: string, limit: number, windowEndsMs: number): Promise<boolean> {
    const expiresAt = expiryOf(windowEndsMs);
    const refusal = await this.update(counter, windowEndsMs, spendInput(limit, expiresAt));
    if (refusal === undefined) return true;
    if (genuineRefusal(refusal, limit, expiresAt)) return false;
    const spent = refusal[BUDGET_ITEM.spent];
    this.options.onCorrupt?.(counter);
    // Overwritten only if it is still the value read: two containers resetting it count one spend each.
    const reset = await this.update(counter, windowEndsMs, {
      UpdateExpression: 'SET #spent = :one, #expiresAt = :expiresAt',
      ConditionExpression: spent === undefined ? 'attribute_not_exists(#spent)' : '#spent = :seen',
      ExpressionAttributeValues: {
        ':one': { N: '1' },
        ':expiresAt': { N: expiresAt },
        ...(spent === undefined ? {} : { ':seen': spent }),
      },
    });
    return reset === undefined;
  }

  /**
   * The spend of {@link spend} as a transaction's item: the same key, condition and update. A refusal that
   * is not {@link SpendWrite.spent} (a counter this service never wrote) is left to {@link spend}, which
   * resets it.
   */
  spendWrite(counter: string, limit: number, windowEndsMs: number): SpendWrite {
    const expiresAt = expiryOf(windowEndsMs);
    return {
      update: {
        TableName: this.options.tableName,
        Key: this.keyOf(counter, windowEndsMs),
        ExpressionAttributeNames: COUNTER_NAMES,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        ...spendInput(limit, expiresAt),
      },
      spent: (item) => item !== undefined && genuineRefusal(item, limit, expiresAt),
    };
  }

  private keyOf(counter: string, windowEndsMs: number): Record<string, AttributeValue> {
    return {
      [TOKEN_TABLE.partitionKey]: {
        S: this.keys.own(`${BUDGET_ITEM.keyPrefix}${counter}#${windowEndsMs}`),
      },
    };
  }

  /** One bounded conditional update of a counter: undefined when applied, the item that refused it if not. */
  private async update(
    counter: string,
    windowEndsMs: number,
    input: Pick<
      ConstructorParameters<typeof UpdateItemCommand>[0],
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'
    >,
  ): Promise<Record<string, AttributeValue> | undefined> {
    const timeoutMs = this.options.callTimeoutMs ?? TABLE_CALL_TIMEOUT_MS;
    const send = () =>
      boundedTableCall('budget', timeoutMs, (abortSignal) =>
        this.options.client.send(
          new UpdateItemCommand({
            TableName: this.options.tableName,
            Key: this.keyOf(counter, windowEndsMs),
            ExpressionAttributeNames: COUNTER_NAMES,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            ...input,
          }),
          { abortSignal },
        ),
      );
    for (let attempt = 1; ; attempt++) {
      try {
        await send();
        return undefined;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return error.Item ?? {};
        if ((error as Error).name !== 'TransactionConflictException') throw error;
        // A lease's transaction was charging this counter at that moment (see TableCharge): asked again
        // after it, as the SDK does not retry this one; still busy after that, the counter is contended,
        // not failing, and is never counted anywhere else (see BudgetContended).
        if (attempt >= CONFLICT_ATTEMPTS) throw new BudgetContended(counter);
        const pauseMs = CONFLICT_PAUSE_MS * 2 ** (attempt - 1);
        await new Promise((resolve) => setTimeout(resolve, pauseMs / 2 + Math.random() * (pauseMs / 2)));
      }
    }
  }
}

/**
 * A counter other requests' transactions kept busy through every attempt. The table answers: counting the
 * spend in this container instead (as for a failing table) would start the caller's share and the
 * provider's day afresh, so the spend is refused for a moment instead (429 with `Retry-After: 1`).
 */
export class BudgetContended extends Error {
  override readonly name = 'BudgetContended';
  constructor(readonly counter: string) {
    super('a budget counter stayed busy with other transactions');
  }
}

const COUNTER_NAMES = { '#spent': BUDGET_ITEM.spent, '#expiresAt': TOKEN_TABLE.ttlAttribute };
/** The pause before a spend refused for another write's transaction on its counter is asked again. */
const CONFLICT_PAUSE_MS = 10;
/** Tries of one counter write that meets other requests' transactions: 10, 20 and 40 ms apart (half jitter). */
const CONFLICT_ATTEMPTS = 4;

const expiryOf = (windowEndsMs: number): string =>
  String(Math.ceil(windowEndsMs / 1000) + COUNTER_TTL_GRACE_SECONDS);

/** One spend: `ADD` below the limit, the item's TTL its window's end plus a grace. */
const spendInput = (limit: number, expiresAt: string) => ({
  UpdateExpression: 'ADD #spent :one SET #expiresAt = :expiresAt',
  ConditionExpression: 'attribute_not_exists(#spent) OR #spent < :limit',
  ExpressionAttributeValues: {
    ':one': { N: '1' },
    ':limit': { N: String(limit) },
    ':expiresAt': { N: expiresAt },
  },
});

/** A refusal by a counter this service wrote: a whole number up to the limit, expiring with its window. */
function genuineRefusal(item: Record<string, AttributeValue>, limit: number, expiresAt: string): boolean {
  const spent = item[BUDGET_ITEM.spent];
  const value = spent?.N === undefined ? Number.NaN : Number(spent.N);
  return (
    Number.isInteger(value) && value >= 0 && value <= limit && item[TOKEN_TABLE.ttlAttribute]?.N === expiresAt
  );
}

/** Counters in this container: for a service without a table, and while the table fails. */
export class InProcessBudgetLedger implements BudgetLedger {
  private readonly spent = new BoundedMap<string, { windowEndsMs: number; count: number }>(10_000);

  async spend(counter: string, limit: number, windowEndsMs: number): Promise<boolean> {
    const entry = this.spent.get(counter);
    const current = entry && entry.windowEndsMs === windowEndsMs ? entry : { windowEndsMs, count: 0 };
    if (current.count >= limit) return false;
    this.spent.set(counter, { windowEndsMs, count: current.count + 1 });
    return true;
  }
}
