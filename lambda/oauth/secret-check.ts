import type { ProviderConfig } from '../config/provider-schema';
import { parseSecretDocument } from '../credentials/client-credentials';
import { ConfigurationError } from '../errors';
import { clientAuthenticationFor } from './client-authentication';
import { grantFor } from './grant';

/**
 * Checks a secret's JSON against what the provider's client authentication needs — a client secret, or a
 * private key that imports for the entry's algorithm, with its key id — before it is stored: a
 * `private_key_jwt` provider given only a client secret fails here, not at the first vend. Throws a
 * {@link ConfigurationError} that names the provider and the keys found, never a value.
 */
export async function checkSecretFor(provider: ProviderConfig, text: string): Promise<void> {
  const credentials = parseSecretDocument(provider.secretId, text);
  if (provider.signingKey) {
    // The point of a key in KMS is that no copy of it is anywhere else.
    if ('privateKey' in credentials) {
      throw new ConfigurationError(
        `provider ${provider.id}: this provider signs with KMS; remove private_key`,
      );
    }
    if ('clientSecret' in credentials) {
      throw new ConfigurationError(
        `provider ${provider.id}: this provider signs with KMS; its secret holds only client_id (no client_secret)`,
      );
    }
    const chain =
      provider.signingKey.certificateChain ??
      ('certificateChain' in credentials && credentials.certificateChain);
    if (provider.assertion?.header === 'x5c' && !chain) {
      throw new ConfigurationError(
        `provider ${provider.id} names its key by x5c: its signingKey or its secret needs certificate_chain`,
      );
    }
    return;
  }
  await clientAuthenticationFor(provider, credentials);
  // The JWT-bearer grant signs with the key: signing one assertion proves key, algorithm and header.
  if (provider.grantType === 'jwt_bearer') await grantFor(provider, credentials, [], undefined, 0);
  if (provider.clientAuth === 'private_key_jwt' && !('keyId' in credentials && credentials.keyId)) {
    throw new ConfigurationError(
      `provider ${provider.id} uses private_key_jwt: its secret needs key_id, the kid the provider registered`,
    );
  }
}
