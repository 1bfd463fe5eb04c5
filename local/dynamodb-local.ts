import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

/**
 * DynamoDB Local 1.25 ships inside this npm package. Only its `emulator/` folder is used, so it is fetched
 * with `npm pack` (integrity-checked by npm) instead of installed with its ~300 MB of unused dependencies.
 */
const EMULATOR_PACKAGE = 'amplify-dynamodb-simulator@2.9.30';
const CACHE_DIR = resolve(__dirname, '..', '.cache', 'dynamodb-local-2.9.30');
const READY_TIMEOUT_MS = 30_000;
const run = promisify(execFile);

export class LocalSetupError extends Error {
  override readonly name = 'LocalSetupError';
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** The emulator folder, fetched once into `.cache/`. Concurrent callers race safely: the rename is atomic. */
export async function ensureEmulator(): Promise<string> {
  const jar = join(CACHE_DIR, 'DynamoDBLocal.jar');
  if (existsSync(jar)) return CACHE_DIR;
  await mkdir(join(CACHE_DIR, '..'), { recursive: true });
  const staging = await mkdtemp(`${CACHE_DIR}.staging-`);
  process.stderr.write(
    `Fetching DynamoDB Local (${EMULATOR_PACKAGE}, its emulator folder only) from the npm registry, once, into ${CACHE_DIR}…\n`,
  );
  try {
    const { stdout } = await run(
      'npm',
      ['pack', EMULATOR_PACKAGE, '--silent', '--pack-destination', staging],
      {
        cwd: staging,
      },
    );
    const tarball = join(staging, stdout.trim().split('\n').pop() ?? '');
    await run('tar', ['-xzf', tarball, '-C', staging, 'package/emulator']);
    await rename(join(staging, 'package', 'emulator'), CACHE_DIR).catch((error: NodeJS.ErrnoException) => {
      if (!existsSync(jar)) throw error;
    });
  } catch (error) {
    if (!existsSync(jar)) {
      throw new LocalSetupError(
        `could not fetch DynamoDB Local (${EMULATOR_PACKAGE}) with npm pack: ${(error as Error).message}`,
      );
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return CACHE_DIR;
}

function assertJava(): void {
  const probe = spawnSync('java', ['-version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    throw new LocalSetupError(
      'Java 17 or newer is needed to run DynamoDB Local and was not found on PATH. Install it ' +
        '(e.g. apt-get install openjdk-17-jre-headless), or point TVM_DYNAMODB_ENDPOINT at a running DynamoDB.',
    );
  }
}

async function waitUntilServing(endpoint: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new LocalSetupError(`DynamoDB Local exited with code ${child.exitCode}`);
    try {
      await fetch(endpoint, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new LocalSetupError(`DynamoDB Local did not answer on ${endpoint} within ${READY_TIMEOUT_MS} ms`);
}

export interface DynamoDbLocal {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts an in-memory DynamoDB Local on a free loopback port. `-sharedDb` makes every access key and region
 * see the same tables, as several service instances sharing one table expect. The JVM is killed when this
 * process exits, however it exits, so none is left behind.
 */
export async function startDynamoDbLocal(): Promise<DynamoDbLocal> {
  assertJava();
  const emulator = await ensureEmulator();
  // Outside the checkout: an interrupted run leaves nothing in it (the system cleans its temporary folder).
  const workDir = await mkdtemp(join(tmpdir(), 'tvm-dynamodb-local-'));
  const port = await freePort();
  const child = spawn(
    'java',
    [
      `-Djava.library.path=${join(emulator, 'DynamoDBLocal_lib')}`,
      '-Xmx512m',
      '-jar',
      join(emulator, 'DynamoDBLocal.jar'),
      '-inMemory',
      '-sharedDb',
      // Nothing leaves this machine.
      '-disableTelemetry',
      '-port',
      String(port),
    ],
    // Its working directory receives dynamodb-local-metadata.json; keep that out of the checkout.
    { cwd: workDir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(endpoint, child);
  } catch (error) {
    await stop();
    throw new LocalSetupError(`${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
  }
  return { endpoint, stop };
}
