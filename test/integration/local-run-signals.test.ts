import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../local/dynamodb-local';

const ROOT = join(__dirname, '..', '..');
/** How long a stop may take: the gateway and the demo server close at once, the JVM within its 3 s grace. */
const STOP_BOUND_MS = 10_000;

/** Every process still alive whose command line contains `marker` (zombies are dead already). */
function processesWith(marker: string): string[] {
  return execFileSync('ps', ['-e', '-o', 'pid=,stat=,args='])
    .toString()
    .split('\n')
    .filter((row) => row.includes(marker) && !/^\s*\d+\s+Z/.test(row));
}

/** Members of a process group still alive. */
function groupMembers(pgid: number): string[] {
  return execFileSync('ps', ['-e', '-o', 'pid=,pgid=,stat=,args='])
    .toString()
    .split('\n')
    .map((row) => row.trim().split(/\s+/))
    .filter(([, group, stat]) => Number(group) === pgid && !stat?.startsWith('Z'))
    .map((fields) => fields.join(' '));
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** Polls until `done` holds, or fails naming what is still there once the bound has passed. */
async function within(boundMs: number, done: () => Promise<boolean> | boolean, what: () => string) {
  const deadline = Date.now() + boundMs;
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`after ${boundMs} ms: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Started {
  readonly child: ChildProcess;
  readonly port: number;
  /** The `-port` argument of the DynamoDB Local JVM this run started: unique to it on this machine. */
  readonly jvmMarker: string;
  readonly stderr: () => string;
}

/**
 * Starts the local run in its own process group, as a terminal would, and waits for its curl line. The
 * signal is then sent to the launched process only, as a process manager or an IDE's stop button does.
 */
async function startInOwnGroup(command: string, args: string[]): Promise<Started> {
  const port = await freePort();
  const child = spawn(command, args, {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, PORT: String(port), TVM_DYNAMODB_ENDPOINT: '', NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await within(
    60_000,
    () => /^curl --aws-sigv4 /m.test(stdout) || child.exitCode !== null,
    () => `no curl line: ${stderr}`,
  );
  assert.equal(child.exitCode, null, stderr);
  const dynamoDbPort = /table \S+ at http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1];
  assert.ok(dynamoDbPort, stderr);
  const jvmMarker = `-port ${dynamoDbPort}`;
  assert.equal(processesWith(jvmMarker).length, 1, 'the run started its own DynamoDB Local');
  assert.ok(await accepts(port));
  return { child, port, jvmMarker, stderr: () => stderr };
}

async function assertAllStopped(started: Started) {
  const pgid = started.child.pid ?? 0;
  await within(
    STOP_BOUND_MS,
    async () =>
      !(await accepts(started.port)) &&
      processesWith(started.jvmMarker).length === 0 &&
      groupMembers(pgid).length === 0,
    () =>
      `port ${started.port} accepting: still alive: ${[...processesWith(started.jvmMarker), ...groupMembers(pgid)].join(' | ')}\n${started.stderr()}`,
  );
}

/** Leaves nothing behind even when an assertion failed. */
function killGroup(started: Started | undefined) {
  if (started?.child.pid === undefined) return;
  try {
    process.kill(-started.child.pid, 'SIGKILL');
  } catch {
    // Already gone: the outcome the test wants.
  }
  for (const row of processesWith(started.jvmMarker)) {
    process.kill(Number(row.trim().split(/\s+/)[0]), 'SIGKILL');
  }
}

/**
 * docs/operations.md "Local run": a stop signal to `npm start` (or to `tsx local/main.ts`) stops the gateway,
 * the demo authorization server and DynamoDB Local, and no process of the run is left behind.
 */
describe('Local run stops on a signal to the launched process alone', () => {
  const launchers: Array<[string, string, string[]]> = [
    ['npm start', 'npm', ['start', '--silent']],
    ['tsx local/main.ts', join(ROOT, 'node_modules', '.bin', 'tsx'), ['local/main.ts']],
  ];
  for (const [name, command, args] of launchers) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`${name}: ${signal} stops the port, the tsx processes and the DynamoDB Local JVM`, async () => {
        let started: Started | undefined;
        try {
          started = await startInOwnGroup(command, args);
          started.child.kill(signal);
          await assertAllStopped(started);
        } finally {
          killGroup(started);
        }
      });
    }
  }

  it('if tsx is killed outright, the service it ran notices it is orphaned and stops everything', async () => {
    let started: Started | undefined;
    try {
      started = await startInOwnGroup(join(ROOT, 'node_modules', '.bin', 'tsx'), ['local/main.ts']);
      started.child.kill('SIGKILL');
      await assertAllStopped(started);
    } finally {
      killGroup(started);
    }
  });

  it('if the service process itself is killed outright, its DynamoDB Local JVM does not outlive it', async () => {
    let started: Started | undefined;
    try {
      started = await startInOwnGroup(join(ROOT, 'node_modules', '.bin', 'tsx'), ['local/main.ts']);
      // The process that spawned the JVM: tsx's child, running local/main.ts.
      const service = execFileSync('ps', ['-o', 'pid=', '--ppid', String(started.child.pid)])
        .toString()
        .trim()
        .split(/\s+/)
        .map(Number);
      assert.equal(service.length, 1);
      process.kill(service[0] ?? 0, 'SIGKILL');
      const marker = started.jvmMarker;
      await within(
        STOP_BOUND_MS,
        () => processesWith(marker).length === 0,
        () => `still alive: ${processesWith(marker).join(' | ')}`,
      );
    } finally {
      killGroup(started);
    }
  });
});
