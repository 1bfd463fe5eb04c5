import { parseArgs } from 'node:util';
import { KMSClient } from '@aws-sdk/client-kms';
import { loadProvidersFile } from '../../../../lambda/config/load-providers';
import { ConfigurationError, VendError } from '../../../../lambda/errors';
import {
  kmsSignerFactory,
  providerSigners,
  type SignerFactory,
  signingKeyAlias,
} from '../../../../lambda/oauth/signing-keys';
import { type AdminIo, type AdminOptions, providersFileOf, UsageError } from './admin-io';
import { describeAwsFailure } from './operator-failure';

const defaultKms = () => new KMSClient({ maxAttempts: 2, requestHandler: { requestTimeout: 5000 } });

/**
 * `public-key <provider> --env E --providers P`: the provider's signing keys as a JWKS (current first, then
 * next), from KMS GetPublicKey. A key the stack created is found by its alias, which `--env` (the
 * construct's `environment`) names. Every region's replica of a multi-Region key holds the same key, so the
 * JWKS is the same whichever region `AWS_REGION` names.
 */
export async function publicKeyCommand(
  argv: readonly string[],
  io: AdminIo,
  options: AdminOptions,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { env: { type: 'string' }, providers: { type: 'string' }, debug: { type: 'boolean' } },
  });
  const [providerId, ...extra] = positionals;
  if (!providerId || extra.length > 0) throw new UsageError('name one provider');
  if (!values.env) throw new UsageError("--env <environment> is required (the construct's environment)");
  const env = values.env;
  const providersFile = providersFileOf(values.providers, io);

  let provider: ReturnType<typeof loadProvidersFile>[number] | undefined;
  try {
    provider = loadProvidersFile(providersFile, 'local').find((entry) => entry.id === providerId);
    if (!provider) throw new ConfigurationError(`no provider "${providerId}" in ${providersFile}`);
    if (!provider.signingKey) {
      throw new ConfigurationError(
        `provider ${provider.id} has no signingKey: its key is in its secret, not in KMS`,
      );
    }
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    io.stderr(`tvm-admin: ${error.message.split('\n').join(' ')}\n`);
    return 1;
  }
  const signingKey = provider.signingKey;
  const local = options.signers?.(env);
  const kms = local ? undefined : (options.kms ?? defaultKms)();
  const factory: SignerFactory =
    local ??
    kmsSignerFactory(kms as KMSClient, {
      // Keys the stack created are found by their alias.
      [provider.id]: Object.fromEntries(
        [signingKey, signingKey.next].flatMap((key) => {
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
    // The signer's message names only the SDK error's name (KMS messages carry the key ARN); its cause is
    // the SDK's error, which tells a missing region or alias from a key that is really unavailable.
    const name = /\(KMS \w+: (\w+)\)/.exec(error.message)?.[1];
    const line =
      name === undefined
        ? undefined
        : describeAwsFailure(error.cause ?? { name }, {
            operation: 'KMS',
            action: 'kms:GetPublicKey',
            resource: `the signing key of ${provider.id}`,
            names: `--env (the construct's environment, which names the key's alias) and --providers`,
          });
    io.stderr(`tvm-admin: provider ${provider.id}: ${line ?? error.message}\n`);
    if (values.debug) io.stderr(`${error.stack ?? String(error)}\n`);
    return 1;
  } finally {
    if (kms && !options.kms) kms.destroy();
  }
}
