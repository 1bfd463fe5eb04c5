import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbTier } from '../../lambda/cache/dynamodb-tier';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../local/dynamodb-local';
import { localSealer } from '../../local/sealing';
import { ensureTokenTable } from '../../local/token-table';

export interface TestTable {
  readonly endpoint: string;
  readonly tableName: string;
  readonly client: DynamoDBClient;
  dispose(): Promise<void>;
}

export function dynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
}

/**
 * The same table through a client of its own, which `addMiddleware` fits with what watches or bends its
 * calls, so only what goes through it is affected; disposing it destroys that client (and `alsoDispose`),
 * not the table.
 */
export function tableThrough(
  table: TestTable,
  addMiddleware: (client: DynamoDBClient) => void,
  alsoDispose: () => void = () => {},
): TestTable {
  const client = dynamoDbClient(table.endpoint);
  addMiddleware(client);
  return {
    ...table,
    client,
    dispose: async () => {
      client.destroy();
      alsoDispose();
    },
  };
}

/**
 * A fresh token table in the run's DynamoDB Local (`npm test` starts one and passes its endpoint), or in a
 * DynamoDB Local of this file's own when the file runs alone.
 */
export async function createTestTable(): Promise<TestTable> {
  let own: DynamoDbLocal | undefined;
  let endpoint = process.env.TVM_TEST_DYNAMODB_ENDPOINT;
  if (!endpoint) {
    own = await startDynamoDbLocal();
    endpoint = own.endpoint;
  }
  const client = dynamoDbClient(endpoint);
  const tableName = `tokens-${randomUUID()}`;
  await ensureTokenTable(client, tableName);
  return {
    endpoint,
    tableName,
    client,
    dispose: async () => {
      await client.send(new DeleteTableCommand({ TableName: tableName })).catch(() => undefined);
      client.destroy();
      await own?.stop();
    },
  };
}

/**
 * Puts a token item as a container would have left it: issued `ageSeconds` ago, expiring in `leftSeconds`.
 * Written through the real table adapter.
 */
export async function seedToken(
  table: TestTable,
  key: string,
  accessToken: string,
  { ageSeconds, leftSeconds }: { ageSeconds: number; leftSeconds: number },
): Promise<void> {
  const nowSeconds = Math.floor(Date.now() / 1000);
  await new DynamoDbTier({ client: table.client, tableName: table.tableName, sealer: localSealer() }).store(
    key,
    { accessToken, issuedAt: nowSeconds - ageSeconds, expiresAt: nowSeconds + leftSeconds },
    'seeded',
  );
}

/** A table whose client counts the leases DynamoDB refused (someone else held it): a gate for bursts. */
export interface WatchedTable {
  readonly table: TestTable;
  refusals(): number;
  /** Resolves once `count` lease requests in all have been refused. */
  refused(count: number): Promise<void>;
}

/**
 * The same table through a client of its own that counts refused lease requests (a read that found someone
 * else's live lease, or a conditional lease write that failed, alone or in its transaction), so a test can
 * hold the provider's answer until every other instance is waiting on the lease instead of hoping a fixed
 * delay is long enough.
 */
export function watchLeaseRefusals(table: TestTable): WatchedTable {
  let refusals = 0;
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  type Item = Record<string, { N?: string; S?: string }>;
  const leased = (item: Item | undefined) =>
    Boolean(item?.owner?.S) && Number(item?.leaseUntil?.N) > Date.now();
  const isLeaseWrite = (input: unknown) =>
    (input as { ExpressionAttributeValues?: Record<string, unknown> } | undefined)
      ?.ExpressionAttributeValues?.[':leaseUntil'] !== undefined;
  const watched = tableThrough(table, (client) =>
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const counted = () => {
          refusals += 1;
          for (const waiter of waiters.filter((candidate) => candidate.count <= refusals)) waiter.resolve();
        };
        try {
          const result = await next(args);
          // The vend reads the item before it leases (GetItem; BatchGetItem with regions): a live lease of
          // someone else's is the refusal.
          const output = result.output as { Item?: Item; Responses?: Record<string, Item[]> };
          const read =
            context.commandName === 'GetItemCommand'
              ? [output.Item]
              : context.commandName === 'BatchGetItemCommand'
                ? Object.values(output.Responses ?? {}).flat()
                : [];
          if (read.some(leased)) counted();
          return result;
        } catch (error) {
          const { name, CancellationReasons } = error as {
            name?: string;
            CancellationReasons?: Array<{ Code?: string }>;
          };
          const input = args.input as { TransactItems?: Array<{ Update?: unknown }> };
          const refusedAlone =
            context.commandName === 'UpdateItemCommand' &&
            name === 'ConditionalCheckFailedException' &&
            isLeaseWrite(args.input);
          const refusedInTransaction =
            context.commandName === 'TransactWriteItemsCommand' &&
            CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed' &&
            isLeaseWrite(input.TransactItems?.[0]?.Update);
          if (refusedAlone || refusedInTransaction) counted();
          throw error;
        }
      },
      { step: 'initialize', name: 'countLeaseRefusals' },
    ),
  );
  return {
    table: watched,
    refusals: () => refusals,
    refused: (count) =>
      count <= refusals
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ count, resolve })),
  };
}

/** A table whose next matching call, once armed, waits at a gate the test opens. */
export interface GatedTable {
  readonly table: TestTable;
  /** Arms the gate for the next matching call: `reached` resolves when it is held, `release` lets it on. */
  arm(): { readonly reached: Promise<void>; release(): void };
}

/**
 * The table through a client of its own (see {@link tableThrough}) whose next call that `holds` names (by
 * command and item key), once armed, waits until the test releases it: a window held open explicitly,
 * never by a delay that is hoped to be slow enough.
 */
export function gatedTable(
  table: TestTable,
  holds: (commandName: string, key: string) => boolean,
): GatedTable {
  let gate: { reached: () => void; release: Promise<void> } | undefined;
  const through = tableThrough(table, (client) =>
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: { pk?: { S?: string } } }).Key?.pk?.S ?? '';
        if (gate && holds(context.commandName ?? '', key)) {
          const { reached, release } = gate;
          gate = undefined;
          reached();
          await release;
        }
        return next(args);
      },
      { step: 'initialize', name: 'gatedCall' },
    ),
  );
  return {
    table: through,
    arm() {
      let reached!: () => void;
      const atGate = new Promise<void>((resolve) => {
        reached = resolve;
      });
      let release!: () => void;
      gate = { reached, release: new Promise<void>((resolve) => (release = resolve)) };
      return { reached: atGate, release };
    },
  };
}
