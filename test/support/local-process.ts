import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

export interface LocalProcess {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the first stdout line that matches. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code. */
  exited(timeoutMs?: number): Promise<number | null>;
}

/** `npm start` as a user runs it, minus npm: the same entry through tsx, with the given environment. */
export function startLocalProcess(env: NodeJS.ProcessEnv): LocalProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'local', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
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
  const exitPromise = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForLine: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const line = stdout.split('\n').find((candidate) => pattern.test(candidate));
          if (line) {
            clearInterval(timer);
            clearTimeout(deadline);
            resolve(line);
          } else if (child.exitCode !== null) {
            clearInterval(timer);
            clearTimeout(deadline);
            reject(new Error(`exited with ${child.exitCode} before ${pattern}: ${stderr}`));
          }
        };
        const timer = setInterval(check, 50);
        const deadline = setTimeout(() => {
          clearInterval(timer);
          reject(new Error(`no line ${pattern} within ${timeoutMs} ms: ${stderr}`));
        }, timeoutMs);
      }),
    exited: (timeoutMs = 20_000) =>
      Promise.race([
        exitPromise,
        new Promise<number | null>((_, reject) =>
          setTimeout(() => reject(new Error(`did not exit within ${timeoutMs} ms`)), timeoutMs).unref(),
        ),
      ]),
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
