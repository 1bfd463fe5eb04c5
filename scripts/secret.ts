import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { environmentNamed } from '../infra/environments';
import { loadProvidersFile } from '../lambda/config/load-providers';
import { ConfigurationError } from '../lambda/errors';
import { checkSecretFor } from '../lambda/oauth/secret-check';
import { debugRequested, describeAwsFailure, unexpectedFailure } from './operator-failure';
import { runPublicKeyCommand } from './public-key';

const USAGE = `Usage: npm run secret -- put <provider> --file <secret.json> [--env sandbox|production] [--providers <file>] [--debug]
       npm run secret -- check <provider> --file <secret.json> [--env …]
       npm run secret -- public-key <provider> --env <sandbox|production|local>

Checks the secret's JSON against the provider's client authentication (a client secret; or a private key
that imports for the entry's algorithm, with key_id), then (put) writes it to the provider's secret in
Secrets Manager with the AWS SDK's default credentials and region. Never prints the secret.
A failure is one line saying what to do, exit 1; --debug adds the stack.`;

/** Bounds on the one call to Secrets Manager: an unreachable endpoint fails in seconds, not minutes. */
const SECRETS_MANAGER_TIMEOUTS = { connectionTimeout: 5000, requestTimeout: 15_000 };

type SecretIo = { stdout: (text: string) => void; stderr: (text: string) => void };

/** Puts a provider's secret, checked first; never prints it. Exit 0 on success, 1 on a failure, 2 on usage. */
export async function runSecretCommand(
  argv: readonly string[],
  io: SecretIo,
  client: () => SecretsManagerClient = () =>
    new SecretsManagerClient({ requestHandler: SECRETS_MANAGER_TIMEOUTS }),
): Promise<number> {
  try {
    return await secretCommand(argv, io, client);
  } catch (error) {
    // Only failures nobody foresaw get here: the stack is a developer's, not the operator's.
    io.stderr(`secret: ${unexpectedFailure(error)}\n`);
    if (debugRequested(argv)) io.stderr(`${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

async function secretCommand(
  argv: readonly string[],
  io: SecretIo,
  client: () => SecretsManagerClient,
): Promise<number> {
  if (argv[0] === 'public-key') return runPublicKeyCommand(argv.slice(1), io);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.stderr(`secret: usage: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { command, providerId, file, providersFile, debug } = parsed;
  let providers: ReturnType<typeof loadProvidersFile>;
  try {
    providers = loadProvidersFile(providersFile, 'local');
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    io.stderr(`secret: ${error.message.split('\n').join('; ')}\n`);
    return 1;
  }
  const provider = providers.find((entry) => entry.id === providerId);
  if (!provider) {
    io.stderr(`secret: no provider "${providerId}" in ${providersFile}\n`);
    return 1;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    io.stderr(`secret: cannot read ${file}: ${(error as NodeJS.ErrnoException).code}\n`);
    return 1;
  }
  try {
    await checkSecretFor(provider, text);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    io.stderr(`secret: ${error.message}\n`);
    return 1;
  }
  if (command === 'put') {
    const secretsManager = client();
    try {
      await secretsManager.send(
        new PutSecretValueCommand({ SecretId: provider.secretId, SecretString: text }),
      );
    } catch (error) {
      const line = describeAwsFailure(error, {
        operation: 'Secrets Manager',
        resource: `secret ${provider.secretId}`,
        action: 'secretsmanager:PutSecretValue',
      });
      if (line === undefined) throw error;
      io.stderr(`secret: ${line}\n`);
      if (debug) io.stderr(`${(error as Error).stack ?? String(error)}\n`);
      return 1;
    }
    io.stdout(`secret: ${provider.secretId} updated for provider ${provider.id} (${provider.clientAuth})\n`);
  } else {
    io.stdout(`secret: fits provider ${provider.id} (${provider.clientAuth})\n`);
  }
  return 0;
}

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      file: { type: 'string' },
      env: { type: 'string' },
      providers: { type: 'string' },
      debug: { type: 'boolean' },
    },
  });
  const [command, providerId, ...extra] = positionals;
  if (command !== 'put' && command !== 'check') throw new Error('the command is put or check');
  if (!providerId || extra.length > 0) throw new Error('name one provider');
  if (!values.file) throw new Error('--file is required');
  const providersFile =
    values.providers ??
    join(__dirname, '..', 'config', 'providers', environmentNamed(values.env ?? 'sandbox').providersFile);
  return { command, providerId, file: values.file, providersFile, debug: values.debug === true };
}

if (require.main === module) {
  runSecretCommand(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }).then((code) => {
    process.exitCode = code;
  });
}
