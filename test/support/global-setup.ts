import { startDynamoDbLocal } from '../../local/dynamodb-local';

/**
 * One DynamoDB Local for the whole integration run; each test file makes its own table in it. Jest's
 * workers start after this and inherit the endpoint through the environment.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.TVM_TEST_DYNAMODB_ENDPOINT) return;
  const dynamoDb = await startDynamoDbLocal();
  process.env.TVM_TEST_DYNAMODB_ENDPOINT = dynamoDb.endpoint;
  (globalThis as { __tvmDynamoDbLocal?: typeof dynamoDb }).__tvmDynamoDbLocal = dynamoDb;
}
