import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { createTableClient } from './cache/dynamodb-tier';
import { composeService } from './compose';
import { loadProvidersFile } from './config/load-providers';
import {
  createSecretsClient,
  SecretsManagerCredentialSource,
} from './credentials/secrets-manager-credential-source';
import { createLogger } from './logging';

/**
 * The Lambda entry. Everything here runs once per container, at cold start: the providers file bundled
 * beside this code is validated (a bad file fails the deploy's first invocation loudly), SDK clients are
 * created once and reused.
 */
const tableName = process.env.TVM_TABLE;
if (!tableName) throw new Error('TVM_TABLE is not set');

const logger = createLogger();
const { handler: apiHandler } = composeService({
  providers: loadProvidersFile(process.env.TVM_PROVIDERS ?? join(__dirname, 'providers.json')),
  credentials: new SecretsManagerCredentialSource({ client: createSecretsClient() }),
  dynamoDb: createTableClient(),
  tableName,
  log: logger,
});

export async function handler(event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> {
  logger.addContext(context);
  return apiHandler(event);
}
