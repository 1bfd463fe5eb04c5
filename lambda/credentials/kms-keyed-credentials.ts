import type { ProviderConfig } from '../config/provider-schema';
import { signingKeyIdentity } from '../config/provider-schema';
import { ConfigurationError } from '../errors';
import type { AssertionSigner, ProviderSigners } from '../oauth/assertion-signer';
import type { ClientCredentials, CredentialSource } from './client-credentials';

/**
 * Gives the credentials of a KMS-keyed provider its signer in place of a private key: the secret holds the
 * client id (and perhaps the x5c chain); a `private_key` still in it is never used. Keyed by secret, as
 * credentials are, so providers sharing a secret must share the key too.
 */
export class KmsKeyedCredentials implements CredentialSource {
  private readonly bySecret = new Map<string, { signer: AssertionSigner; chain?: readonly string[] }>();

  constructor(
    private readonly inner: CredentialSource,
    providers: readonly ProviderConfig[],
    signers: ReadonlyMap<string, ProviderSigners>,
  ) {
    const identityBySecret = new Map<string, string>();
    for (const provider of providers) {
      const identity = provider.signingKey ? signingKeyIdentity(provider.signingKey) : 'secret';
      const seen = identityBySecret.get(provider.secretId);
      if (seen !== undefined && seen !== identity) {
        throw new ConfigurationError(
          `providers sharing secret ${provider.secretId} must share their signingKey too (provider ${provider.id})`,
        );
      }
      identityBySecret.set(provider.secretId, identity);
      const signer = signers.get(provider.id)?.current;
      if (provider.signingKey && !signer) {
        throw new ConfigurationError(
          `provider ${provider.id} has a signingKey but no signer was made for it`,
        );
      }
      if (provider.signingKey && signer) {
        this.bySecret.set(provider.secretId, {
          signer,
          ...(provider.signingKey.certificateChain ? { chain: provider.signingKey.certificateChain } : {}),
        });
      }
    }
  }

  async get(secretId: string): Promise<ClientCredentials> {
    const credentials = await this.inner.get(secretId);
    const keyed = this.bySecret.get(secretId);
    if (!keyed) return credentials;
    const chain =
      keyed.chain ?? ('certificateChain' in credentials ? credentials.certificateChain : undefined);
    return {
      clientId: credentials.clientId,
      signer: keyed.signer,
      ...(chain ? { certificateChain: chain } : {}),
    };
  }

  clientId(secretId: string): Promise<string> {
    return this.inner.clientId(secretId);
  }

  invalidate(secretId: string): void {
    this.inner.invalidate(secretId);
  }
}
