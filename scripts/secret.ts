import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { environmentNamed } from '../infra/environments';
import { loadProvidersFile } from '../lambda/config/load-providers';
import { checkSecretFor } from '../lambda/credentials/secret-check';
import { ConfigurationError } from '../lambda/errors';
import { runPublicKeyCommand } from './public-key';

const USAGE = `Usage: npm run secret -- put <provider> --file <secret.json> [--env sandbox|production] [--providers <file>]
       npm run secret -- check <provider> --file <secret.json> [--env …]
       npm run secret -- public-key <provider> --env <sandbox|production|local>

Checks the secret's JSON against the provider's client authentication (a client secret; or a private key
that imports for the entry's algorithm, with key_id), then (put) writes it to the provider's secret in
Secrets Manager with the AWS SDK's default credentials. Never prints the secret.`;

/** Puts a provider's secret, checked first; never prints it. Exit 0 on success, 1 on a bad secret, 2 on usage. */
export async function runSecretCommand(
  argv: readonly string[],
  io: { stdout: (text: string) => void; stderr: (text: string) => void },
  client: () => SecretsManagerClient = () => new SecretsManagerClient({}),
): Promise<number> {
  if (argv[0] === 'public-key') return runPublicKeyCommand(argv.slice(1), io);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.stderr(`secret: usage: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { command, providerId, file, providersFile } = parsed;
  const provider = loadProvidersFile(providersFile, 'local').find((entry) => entry.id === providerId);
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
    await client().send(new PutSecretValueCommand({ SecretId: provider.secretId, SecretString: text }));
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
    options: { file: { type: 'string' }, env: { type: 'string' }, providers: { type: 'string' } },
  });
  const [command, providerId, ...extra] = positionals;
  if (command !== 'put' && command !== 'check') throw new Error('the command is put or check');
  if (!providerId || extra.length > 0) throw new Error('name one provider');
  if (!values.file) throw new Error('--file is required');
  const providersFile =
    values.providers ??
    join(__dirname, '..', 'config', 'providers', environmentNamed(values.env ?? 'sandbox').providersFile);
  return { command, providerId, file: values.file, providersFile };
}

if (require.main === module) {
  runSecretCommand(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }).then((code) => {
    process.exitCode = code;
  });
}
