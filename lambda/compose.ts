import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbTokenTable } from './cache/dynamodb-token-table';
import { MemoryTokenStore } from './cache/memory-token-store';
import type { ProviderConfig } from './config/provider-schema';
import type { CredentialSource } from './credentials/client-credentials';
import { type ApiHandler, createHandler } from './handler';
import type { Log } from './logging';
import { OAuthTokenClient, type OAuthTokenClientOptions } from './oauth/token-client';
import { TokenVendor } from './token-vendor';

export interface ServiceParts {
  readonly providers: readonly ProviderConfig[];
  readonly credentials: CredentialSource;
  readonly dynamoDb?: DynamoDBClient;
  readonly tableName?: string;
  readonly log: Log;
  readonly tokenClient?: OAuthTokenClientOptions;
  readonly memory?: MemoryTokenStore;
  readonly now?: () => number;
}

/** Wires one service instance, as a Lambda container or a local instance holds it. */
export function composeService(parts: ServiceParts): { handler: ApiHandler; vendor: TokenVendor } {
  const now = parts.now ? { now: parts.now } : {};
  const tokenTable =
    parts.dynamoDb && parts.tableName
      ? new DynamoDbTokenTable({ client: parts.dynamoDb, tableName: parts.tableName, ...now })
      : undefined;
  // One item per key holds the token and the lease, so the table is both the store and the coordinator.
  const shared = tokenTable ? { table: tokenTable, coordinator: tokenTable } : {};
  const vendor = new TokenVendor({
    providers: parts.providers,
    credentials: parts.credentials,
    tokenClient: new OAuthTokenClient({ ...now, ...parts.tokenClient }),
    // With a shared table, memory is trusted a minute (evictions elsewhere show within it); alone, it is the cache.
    memory:
      parts.memory ??
      new MemoryTokenStore({ ...now, ...(shared.table ? {} : { maxAgeSeconds: Number.POSITIVE_INFINITY }) }),
    ...shared,
    log: parts.log,
    ...now,
  });
  return {
    handler: createHandler({ vendor, log: parts.log, ...(parts.now ? { now: parts.now } : {}) }),
    vendor,
  };
}
