import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * A client of DynamoDB Local that counts the calls made through it, by command (`GetItem`, `UpdateItem`…):
 * what the benchmarks print as table calls per miss, per renewal and per planner run.
 */
export function countingClient(endpoint: string): { client: DynamoDBClient; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = (context.commandName ?? '').replace(/Command$/, '');
      calls.set(name, (calls.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize' },
  );
  return { client, calls };
}
