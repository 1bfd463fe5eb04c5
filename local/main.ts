import { ConfigurationError } from '../lambda/errors';
import { LocalSetupError } from './dynamodb-local';
import { type LocalSettings, readSettings } from './local-config';
import { curlCommand, type LocalService, startLocalService } from './local-service';
import { childrenOf, guardAgainstOrphaning } from './orphan-guard';

/** How often the process checks that whoever started it (tsx, npm) is still there. */
const PARENT_CHECK_MS = 1000;

/**
 * `npm start`: the service on 127.0.0.1 as docs/DESIGN.md "Local run" describes. SIGINT (Ctrl-C), SIGTERM
 * (a process manager's or an IDE's stop) and SIGHUP stop everything it started; so does its parent going
 * away, and a watchdog kills the DynamoDB Local JVM if this process is killed outright.
 */
async function main(): Promise<void> {
  let settings: LocalSettings;
  try {
    settings = readSettings();
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    process.stderr.write(`npm start: ${error.message}\n`);
    process.exit(1);
  }
  let service: LocalService | undefined;
  let stopping = false;
  let guard: { disarm(): void } | undefined;
  const shutdown = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${reason}: stopping the local service\n`);
    await service?.stop();
    guard?.disarm();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => void shutdown(signal));
  }
  // Orphaned (tsx or npm killed outright), this process would keep the port: nobody is left to stop it.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void shutdown('parent process gone');
  }, PARENT_CHECK_MS).unref();

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
  guard = guardAgainstOrphaning(childrenOf());
  process.once('exit', () => guard?.disarm());
  for (const warning of service.warnings) process.stderr.write(`Warning: ${warning}\n`);
  process.stderr.write(
    `Token vending service on ${service.gateway.url} (table ${settings.tableName} at ${service.dynamoDbEndpoint}); Ctrl-C stops it.\n`,
  );
  process.stdout.write(`${curlCommand(service)}\n`);
}

void main();
