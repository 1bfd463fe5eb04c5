import type { DynamoDbLocal } from '../../local/dynamodb-local';

/** Stops the run's DynamoDB Local, JVM and all. */
export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __tvmDynamoDbLocal?: DynamoDbLocal }).__tvmDynamoDbLocal?.stop();
}
