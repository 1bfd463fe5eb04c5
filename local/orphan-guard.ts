import { spawn, spawnSync } from 'node:child_process';

/**
 * Kills `guarded` once `owner` is gone: a process killed outright (SIGKILL, the OOM killer) runs no exit
 * handler, and its children — the DynamoDB Local JVM above all, which listens on every interface — would
 * live on. The watchdog is a detached shell that checks the owner once a second; `disarm()` ends it on a
 * normal exit, before the guarded processes' ids can be reused.
 */
export function guardAgainstOrphaning(guarded: readonly number[], owner = process.pid): { disarm(): void } {
  if (guarded.length === 0) return { disarm: () => undefined };
  const watchdog = spawn(
    'sh',
    [
      '-c',
      'owner=$1; shift; while kill -0 "$owner" 2>/dev/null; do sleep 1; done; kill -KILL "$@" 2>/dev/null',
      'tvm-orphan-guard',
      String(owner),
      ...guarded.map(String),
    ],
    // Its own session: a signal to the run's process group must not end the guard before the run.
    { detached: true, stdio: 'ignore' },
  );
  watchdog.on('error', () => undefined);
  watchdog.unref();
  return {
    disarm: () => {
      if (watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
    },
  };
}

/** The direct children of `parent` (pgrep -P, on Linux and macOS); none if pgrep is missing. */
export function childrenOf(parent = process.pid): number[] {
  const listed = spawnSync('pgrep', ['-P', String(parent)], { encoding: 'utf8', timeout: 5000 });
  if (listed.status !== 0 || typeof listed.stdout !== 'string') return [];
  return listed.stdout
    .split('\n')
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}
