import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KMSClient } from '@aws-sdk/client-kms';
import { environmentNamed } from '../infra/environments';
import { loadProvidersFile } from '../lambda/config/load-providers';
import { VendError } from '../lambda/errors';
import type { SignerFactory } from '../lambda/oauth/signing-keys';
import { kmsSignerFactory, providerSigners, signingKeyAlias } from '../lambda/oauth/signing-keys';
import { localSignerFactory } from '../local/local-signing-keys';

const USAGE = `Usage: npm run secret -- public-key <provider> --env <sandbox|production|local> [--providers <file>]

Prints the provider's signing keys as a JWKS (current first, then next; each with kid, alg, use "sig", and x5c
where the entry has a chain): from KMS GetPublicKey with the AWS SDK's default credentials, or with --env
local from the local run's stand-in keys. Register these with the provider.`;

/** Prints a KMS-keyed provider's public keys. Exit 0 on success, 1 on a provider without a key, 2 on usage. */
export async function runPublicKeyCommand(
  argv: readonly string[],
  io: { stdout: (text: string) => void; stderr: (text: string) => void },
  client: () => KMSClient = () => new KMSClient({ maxAttempts: 2, requestHandler: { requestTimeout: 5000 } }),
): Promise<number> {
  let parsed: { providerId: string; env: string; providersFile: string };
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { env: { type: 'string' }, providers: { type: 'string' } },
    });
    const [providerId, ...extra] = positionals;
    if (!providerId || extra.length > 0) throw new Error('name one provider');
    if (!values.env) throw new Error('--env is required');
    const file = values.env === 'local' ? 'sandbox.json' : environmentNamed(values.env).providersFile;
    parsed = {
      providerId,
      env: values.env,
      providersFile:
        values.providers ?? process.env.TVM_PROVIDERS ?? join(__dirname, '..', 'config', 'providers', file),
    };
  } catch (error) {
    io.stderr(`secret: usage: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { providerId, env, providersFile } = parsed;
  const provider = loadProvidersFile(providersFile, 'local').find((entry) => entry.id === providerId);
  if (!provider) {
    io.stderr(`secret: no provider "${providerId}" in ${providersFile}\n`);
    return 1;
  }
  if (!provider.signingKey) {
    io.stderr(`secret: provider ${provider.id} has no signingKey: its key is in its secret, not in KMS\n`);
    return 1;
  }
  const factory: SignerFactory =
    env === 'local'
      ? localSignerFactory()
      : kmsSignerFactory(client(), {
          // Keys the stack created are found by their alias.
          [provider.id]: Object.fromEntries(
            [provider.signingKey, provider.signingKey.next].flatMap((key) => {
              const name = key?.name ?? '1';
              return key?.kms === 'create' ? [[name, signingKeyAlias(env, provider.id, name)]] : [];
            }),
          ),
        });
  const signers = providerSigners([provider], factory).get(provider.id);
  try {
    const keys = [];
    for (const signer of [signers?.current, signers?.next]) if (signer) keys.push(await signer.publicJwk());
    io.stdout(`${JSON.stringify({ keys }, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof VendError)) throw error;
    io.stderr(`secret: provider ${provider.id}: ${error.message}\n`);
    return 1;
  }
}
