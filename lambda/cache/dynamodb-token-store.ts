import {
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { CachedToken, TokenStore } from './token-store';

/** The table's layout, shared with the CDK stack and the local run. */
export const TOKEN_TABLE = {
  partitionKey: 'pk',
  /** Epoch seconds; the table's TTL attribute. TTL deletes late, so every read checks it too. */
  ttlAttribute: 'expiresAt',
} as const;

export interface DynamoDbTokenStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

/** The shared cache every container reads: one GetItem on a hit. */
export class DynamoDbTokenStore implements TokenStore {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;

  constructor(options: DynamoDbTokenStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
  }

  async get(key: string): Promise<CachedToken | undefined> {
    const { Item: item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [TOKEN_TABLE.partitionKey]: { S: key } },
        // A strongly consistent read sees an eviction made a moment ago by another container.
        ConsistentRead: true,
      }),
    );
    const accessToken = item?.accessToken?.S;
    const issuedAt = Number(item?.issuedAt?.N);
    const expiresAt = Number(item?.[TOKEN_TABLE.ttlAttribute]?.N);
    if (!accessToken || !Number.isFinite(issuedAt) || !Number.isFinite(expiresAt)) return undefined;
    const scope = item?.scope?.S;
    return scope === undefined
      ? { accessToken, issuedAt, expiresAt }
      : { accessToken, issuedAt, expiresAt, scope };
  }

  async put(key: string, token: CachedToken, context: { readonly providerId: string }): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          [TOKEN_TABLE.partitionKey]: { S: key },
          provider: { S: context.providerId },
          accessToken: { S: token.accessToken },
          issuedAt: { N: String(token.issuedAt) },
          [TOKEN_TABLE.ttlAttribute]: { N: String(token.expiresAt) },
          ...(token.scope === undefined ? {} : { scope: { S: token.scope } }),
        },
      }),
    );
  }

  async delete(key: string): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: { [TOKEN_TABLE.partitionKey]: { S: key } } }),
    );
  }
}
