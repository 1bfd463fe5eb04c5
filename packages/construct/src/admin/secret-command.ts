import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { loadProvidersFile } from '../../../../lambda/config/load-providers';
import { ConfigurationError } from '../../../../lambda/errors';
import { checkSecretFor } from '../../../../lambda/oauth/secret-check';
import { type AdminIo, type AdminOptions, providersFileOf, UsageError } from './admin-io';
import { describeAwsFailure } from './operator-failure';

/** Bounds on the one call to Secrets Manager: an unreachable endpoint fails in seconds, not minutes. */
const SECRETS_MANAGER_TIMEOUTS = { connectionTimeout: 5000, requestTimeout: 15_000 };

const defaultSecretsManager = () => new SecretsManagerClient({ requestHandler: SECRETS_MANAGER_TIMEOUTS });

/**
 * `secret check|put <provider> --file F --providers P`: checks the secret's JSON against the provider's
 * client authentication, offline; `put` then writes it to the entry's `secretId`. Never prints the secret.
 * Exit 0, 1 on a failure (one line on stderr), or a {@link UsageError}.
 */
export async function secretCommand(
  argv: readonly string[],
  io: AdminIo,
  options: AdminOptions,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      file: { type: 'string' },
      providers: { type: 'string' },
      debug: { type: 'boolean' },
    },
  });
  const [command, providerId, ...extra] = positionals;
  if (command !== 'put' && command !== 'check') throw new UsageError('secret put or secret check');
  if (!providerId || extra.length > 0) throw new UsageError('name one provider');
  if (!values.file) throw new UsageError('--file <secret.json> is required');
  const providersFile = providersFileOf(values.providers, io);

  let provider: ReturnType<typeof loadProvidersFile>[number] | undefined;
  let text: string;
  try {
    // The local policy: the tool checks a secret, it does not judge where the entry's endpoint is.
    provider = loadProvidersFile(providersFile, 'local').find((entry) => entry.id === providerId);
    if (!provider) throw new ConfigurationError(`no provider "${providerId}" in ${providersFile}`);
    try {
      text = readFileSync(values.file, 'utf8');
    } catch (error) {
      throw new ConfigurationError(`cannot read ${values.file}: ${(error as NodeJS.ErrnoException).code}`);
    }
    await checkSecretFor(provider, text);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    io.stderr(`tvm-admin: ${error.message.split('\n').join(' ')}\n`);
    return 1;
  }
  if (command === 'check') {
    io.stdout(`tvm-admin: the secret fits provider ${provider.id} (${provider.clientAuth})\n`);
    return 0;
  }
  const client = (options.secretsManager ?? defaultSecretsManager)();
  try {
    await client.send(new PutSecretValueCommand({ SecretId: provider.secretId, SecretString: text }));
  } catch (error) {
    const line = describeAwsFailure(error, {
      operation: 'Secrets Manager',
      resource: `secret ${provider.secretId}`,
      action: 'secretsmanager:PutSecretValue',
    });
    if (line === undefined) throw error;
    io.stderr(`tvm-admin: ${line}\n`);
    if (values.debug) io.stderr(`${(error as Error).stack ?? String(error)}\n`);
    return 1;
  } finally {
    if (!options.secretsManager) client.destroy();
  }
  io.stdout(`tvm-admin: ${provider.secretId} updated for provider ${provider.id} (${provider.clientAuth})\n`);
  return 0;
}
