import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { TOKEN_TABLE } from '../../lambda/contracts/token-table';
import { dynamoDbClient, type TestTable, tableThrough } from './dynamodb';

/** One write as a stream record carries it: the item's key and its image after the write (none: deleted). */
export interface StreamRecord {
  readonly partitionKey: string;
  readonly image?: Record<string, AttributeValue>;
}

/** A region's table whose writes are recorded, as DynamoDB Streams records them for a global table. */
export interface RecordedTable {
  /** The table, through a client that records every write made through it. */
  readonly table: TestTable;
  /** Records not yet delivered, oldest first. */
  readonly pending: StreamRecord[];
}

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);

/**
 * A table whose every applied write is recorded with the item's image right after it (read strongly
 * consistent, before the write's caller hears back), so records are in write order.
 */
export function recordWrites(table: TestTable): RecordedTable {
  const reader = dynamoDbClient(table.endpoint);
  const pending: StreamRecord[] = [];
  const recorded = tableThrough(
    table,
    (client) =>
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          type Keyed = { Key?: Record<string, AttributeValue>; Item?: Record<string, AttributeValue> };
          // A transaction's writes are records of their own, one per item, as a stream has them.
          const writes: Keyed[] = WRITES.has(context.commandName ?? '')
            ? [args.input as Keyed]
            : context.commandName === 'TransactWriteItemsCommand'
              ? ((
                  args.input as { TransactItems?: Array<Record<string, Keyed | undefined>> }
                ).TransactItems?.flatMap(({ Put, Update, Delete }) => [Put ?? Update ?? Delete ?? {}]) ?? [])
              : [];
          for (const input of writes) {
            const partitionKey = (input.Key ?? input.Item)?.[TOKEN_TABLE.partitionKey]?.S;
            if (partitionKey !== undefined) {
              const { Item } = await reader.send(
                new GetItemCommand({
                  TableName: table.tableName,
                  Key: { [TOKEN_TABLE.partitionKey]: { S: partitionKey } },
                  ConsistentRead: true,
                }),
              );
              pending.push(Item ? { partitionKey, image: Item } : { partitionKey });
            }
          }
          return result;
        },
        { step: 'initialize', name: 'recordWrites' },
      ),
    () => reader.destroy(),
  );
  return { table: recorded, pending };
}

/**
 * The replicating stand-in for a global table's replication, which DynamoDB Local does not have: the
 * records of one region's table applied to another's as the test says when, in order or in any other order
 * (an older image after a newer one). Each image overwrites the item whole, as a replica's last writer wins.
 */
export async function deliver(
  from: RecordedTable,
  to: TestTable,
  order: 'in order' | 'newest first' = 'in order',
): Promise<number> {
  const records = from.pending.splice(0, from.pending.length);
  if (order === 'newest first') records.reverse();
  const writer: DynamoDBClient = dynamoDbClient(to.endpoint);
  try {
    for (const record of records) {
      if (record.image) {
        await writer.send(new PutItemCommand({ TableName: to.tableName, Item: record.image }));
      } else {
        await writer.send(
          new DeleteItemCommand({
            TableName: to.tableName,
            Key: { [TOKEN_TABLE.partitionKey]: { S: record.partitionKey } },
          }),
        );
      }
    }
  } finally {
    writer.destroy();
  }
  return records.length;
}
