import { join } from 'node:path';
import { ENVIRONMENTS, environmentNamed } from '../infra/environments';
import { localSignerFactory } from '../local/local-signing-keys';
import type { AdminIo, AdminOptions } from '../packages/construct/src/admin/admin-io';
import { runAdmin } from '../packages/construct/src/admin/tvm-admin';

/**
 * `npm run secret -- put|check|public-key <provider> …`: the construct package's `tvm-admin` with this
 * repository's settings. `--env` (default sandbox) picks the providers file infra/environments.ts names,
 * unless `--providers` or TVM_PROVIDERS gives one; `public-key --env local` prints the local run's stand-in
 * keys (what `npm start` signs with) instead of asking KMS.
 */
export function adminArguments(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  if (argv.includes('--help') || argv.includes('-h')) return ['--help'];
  const [command, ...rest] = argv;
  const args = [...rest];
  let environment: string | undefined;
  const at = args.findIndex((arg) => arg === '--env' || arg.startsWith('--env='));
  if (at >= 0) {
    const [flag = ''] = args.splice(at, 1);
    environment = flag.includes('=') ? flag.slice('--env='.length) : args.splice(at, 1)[0];
  }
  const named = args.some((arg) => arg === '--providers' || arg.startsWith('--providers='));
  const providers = (name: string) => {
    if (named || env.TVM_PROVIDERS) return [];
    if (!Object.hasOwn(ENVIRONMENTS, name)) {
      throw new Error(`unknown environment "${name}": --env ${Object.keys(ENVIRONMENTS).join('|')}`);
    }
    return [
      '--providers',
      join(__dirname, '..', 'config', 'providers', environmentNamed(name).providersFile),
    ];
  };
  if (command === 'put' || command === 'check') {
    return ['secret', command, ...args, ...providers(environment ?? 'sandbox')];
  }
  if (command === 'public-key') {
    // Without --env, tvm-admin says it is required.
    if (environment === undefined) return ['public-key', ...args];
    return [
      'public-key',
      ...args,
      '--env',
      environment,
      ...providers(environment === 'local' ? 'sandbox' : environment),
    ];
  }
  throw new Error('npm run secret -- put|check|public-key <provider> …');
}

/** This repository's options: the local run's keys stand in for KMS under `--env local`. */
const REPOSITORY_OPTIONS: AdminOptions = {
  signers: (environment) => (environment === 'local' ? localSignerFactory() : undefined),
};

/** `npm run secret -- …`; exit 0, 1 on a failure, 2 on usage. */
export async function runSecretScript(
  argv: readonly string[],
  io: AdminIo,
  options: AdminOptions = {},
): Promise<number> {
  let args: string[];
  try {
    args = adminArguments(argv, io.env);
  } catch (error) {
    // No command, or an unknown --env: infra/environments.ts names the ones there are.
    io.stderr(`tvm-admin: usage: ${(error as Error).message} (see npm run secret -- --help)\n`);
    return 2;
  }
  return runAdmin(args, io, { ...REPOSITORY_OPTIONS, ...options });
}

if (require.main === module) {
  runSecretScript(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  }).then((code) => {
    process.exitCode = code;
  });
}
