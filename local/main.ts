import { ConfigurationError } from '../lambda/errors';
import { LocalSetupError } from './dynamodb-local';
import { readSettings } from './local-config';
import { curlCommand, type LocalService, startLocalService } from './local-service';

/** `npm start`: the service on 127.0.0.1 as docs/DESIGN.md "Local run" describes. Ctrl-C stops everything. */
async function main(): Promise<void> {
  const settings = readSettings();
  let service: LocalService | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping the local service\n`);
    await service?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    service = await startLocalService(settings);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      process.stderr.write(
        `Port ${settings.port} on 127.0.0.1 is already in use. Stop what holds it, or set PORT=<free port>.\n`,
      );
    } else if (error instanceof LocalSetupError || error instanceof ConfigurationError) {
      process.stderr.write(`${error.message}\n`);
    } else {
      throw error;
    }
    process.exit(1);
  }
  for (const warning of service.warnings) process.stderr.write(`Warning: ${warning}\n`);
  process.stderr.write(
    `Token vending service on ${service.gateway.url} (table ${settings.tableName} at ${service.dynamoDbEndpoint}); Ctrl-C stops it.\n`,
  );
  process.stdout.write(`${curlCommand(service)}\n`);
}

void main();
