import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { TABLE_CALL_TIMEOUT_MS, TableTimeoutError, TOKEN_TABLE } from '../cache/dynamodb-tier';

/** Counts spending against a limit per window: true while the limit is not reached, and the spend is counted. */
export interface BudgetLedger {
  spend(counter: string, limit: number, windowEndsMs: number): Promise<boolean>;
}

/**
 * Counters on the token table, so every container counts against the same budget: one conditional
 * UpdateItem per spend (`ADD` below the limit), on an item of its own per counter and window that TTL removes.
 */
export class DynamoDbBudgetLedger implements BudgetLedger {
  constructor(
    private readonly options: { client: DynamoDBClient; tableName: string; callTimeoutMs?: number },
  ) {}

  async spend(counter: string, limit: number, windowEndsMs: number): Promise<boolean> {
    const timeoutMs = this.options.callTimeoutMs ?? TABLE_CALL_TIMEOUT_MS;
    const abortSignal = AbortSignal.timeout(timeoutMs);
    try {
      await this.options.client.send(
        new UpdateItemCommand({
          TableName: this.options.tableName,
          Key: { [TOKEN_TABLE.partitionKey]: { S: `budget#${counter}#${windowEndsMs}` } },
          UpdateExpression: 'ADD #spent :one SET #expiresAt = :expiresAt',
          ConditionExpression: 'attribute_not_exists(#spent) OR #spent < :limit',
          ExpressionAttributeNames: { '#spent': 'spent', '#expiresAt': TOKEN_TABLE.ttlAttribute },
          ExpressionAttributeValues: {
            ':one': { N: '1' },
            ':limit': { N: String(limit) },
            ':expiresAt': { N: String(Math.ceil(windowEndsMs / 1000) + 120) },
          },
        }),
        { abortSignal },
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      if (abortSignal.aborted) throw new TableTimeoutError('budget', timeoutMs);
      throw error;
    }
  }
}

/** Counters in this container: for a service without a table, and while the table fails. */
export class InProcessBudgetLedger implements BudgetLedger {
  private readonly spent = new Map<string, { windowEndsMs: number; count: number }>();

  async spend(counter: string, limit: number, windowEndsMs: number): Promise<boolean> {
    const entry = this.spent.get(counter);
    const current = entry && entry.windowEndsMs === windowEndsMs ? entry : { windowEndsMs, count: 0 };
    if (current.count >= limit) return false;
    this.spent.set(counter, { windowEndsMs, count: current.count + 1 });
    if (this.spent.size > 10_000) this.spent.delete(this.spent.keys().next().value as string);
    return true;
  }
}
