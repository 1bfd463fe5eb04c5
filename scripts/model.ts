import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';

/**
 * `npm run model [runs] [seed]`: the key-lifecycle model (test/integration/key-lifecycle-model.test.ts) run
 * longer than `npm test` runs it (500 runs of up to 30 commands by default) with a random seed, printed
 * first. On a failure jest prints fast-check's report: the seed, the path, the shrunk counterexample as a
 * story of commands and the invariant it broke; the line after it replays exactly that case. The test runs
 * under jest (its globalSetup starts DynamoDB Local), so this script imports nothing from test/.
 *
 * Environment, passed on to the test: TVM_MODEL_SEED, TVM_MODEL_RUNS, TVM_MODEL_COMMANDS (longest command
 * list), TVM_MODEL_STRICT (`1`: the known defects fail too; or a comma-separated list of them),
 * TVM_MODEL_DEBUG=1 (print the service's log of the failing run).
 */
function main(): number {
  const runs = process.argv[2] ?? process.env.TVM_MODEL_RUNS ?? '500';
  const seed = process.argv[3] ?? process.env.TVM_MODEL_SEED ?? String(randomInt(0, 2 ** 31 - 1));
  const commands = process.env.TVM_MODEL_COMMANDS ?? '30';
  console.log(`key-lifecycle model: seed ${seed}, ${runs} runs of up to ${commands} commands`);
  const started = Date.now();
  const jest = join(__dirname, '..', 'node_modules', '.bin', 'jest');
  const result = spawnSync(
    jest,
    ['--selectProjects=integration', '--runTestsByPath', 'test/integration/key-lifecycle-model.test.ts'],
    {
      cwd: join(__dirname, '..'),
      stdio: 'inherit',
      env: {
        ...process.env,
        TVM_MODEL_SEED: seed,
        TVM_MODEL_RUNS: runs,
        TVM_MODEL_COMMANDS: commands,
        // Long runs shrink long counterexamples: give the test the time.
        TVM_MODEL_TIMEOUT_MS: process.env.TVM_MODEL_TIMEOUT_MS ?? String(60 * 60_000),
      },
    },
  );
  const seconds = Math.round((Date.now() - started) / 1000);
  if (result.status === 0) {
    console.log(`key-lifecycle model: seed ${seed}, ${runs} runs, every invariant held (${seconds} s)`);
    return 0;
  }
  console.log(
    `key-lifecycle model: seed ${seed} found a counterexample (${seconds} s). Replay it with ` +
      `TVM_MODEL_SEED=${seed} TVM_MODEL_PATH=<path> TVM_MODEL_REPLAY=<replayPath> npm run model ${runs}, ` +
      'the path and replayPath as printed above.',
  );
  return result.status ?? 1;
}

process.exitCode = main();
