import { type AdminIo, type AdminOptions, UsageError, usageMessage } from './admin-io';
import { debugRequested, unexpectedFailure } from './operator-failure';
import { publicKeyCommand } from './public-key-command';
import { secretCommand } from './secret-command';

export const USAGE = `Usage: tvm-admin secret check <provider> --file <secret.json> --providers <providers.json>
       tvm-admin secret put <provider> --file <secret.json> --providers <providers.json> [--debug]
       tvm-admin public-key <provider> --env <environment> --providers <providers.json> [--debug]

The token vending service's operator tool, run in the app that deploys the construct, with that app's
providers file (--providers, else $TVM_PROVIDERS).

  secret check   checks a secret's JSON against the provider's client authentication: a client secret;
                 or a private key that imports for the entry's algorithm, with key_id; or, for an entry
                 whose key is in KMS, client_id alone. Needs no AWS.
  secret put     checks it the same way, then writes it to the entry's secretId in Secrets Manager.
  public-key     prints the provider's KMS signing keys as a JWKS (current first, then next) to register
                 with the provider; --env is the construct's environment, which names the keys it created.

AWS calls use the SDK's default credentials and region. The secret is never printed. A failure is one
line saying what to do, exit 1 (--debug adds the stack); a usage error exits 2.`;

const wantsHelp = (argv: readonly string[]) => argv.includes('--help') || argv.includes('-h');

/** The `tvm-admin` command line: exit 0, 1 on a failure, 2 on a usage error; `--help` prints usage only. */
export async function runAdmin(
  argv: readonly string[],
  io: AdminIo,
  options: AdminOptions = {},
): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  try {
    const [command, ...rest] = argv;
    if (command === 'secret') return await secretCommand(rest, io, options);
    if (command === 'public-key') return await publicKeyCommand(rest, io, options);
    throw new UsageError(command ? `unknown command ${command}` : 'name a command');
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`tvm-admin: usage: ${usageMessage(error as Error)} (see tvm-admin --help)\n`);
      return 2;
    }
    // Only failures nobody foresaw get here: the stack is a developer's, not the operator's.
    io.stderr(`tvm-admin: ${unexpectedFailure(error)}\n`);
    if (debugRequested(argv, io.env)) io.stderr(`${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}
