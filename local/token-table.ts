import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { TOKEN_TABLE } from '../lambda/contracts/token-table';

/** Creates the token table as the CDK stack defines it (on-demand, TTL on), unless it exists. */
export async function ensureTokenTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: TOKEN_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: TOKEN_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
  } catch (error) {
    // Another local instance created it first.
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName: tableName });
  await client
    .send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TOKEN_TABLE.ttlAttribute, Enabled: true },
      }),
    )
    .catch(() => undefined);
}

/** A client of DynamoDB Local: any credentials do, one attempt (a test or script sees each fault as it is). */
export function localTableClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}
