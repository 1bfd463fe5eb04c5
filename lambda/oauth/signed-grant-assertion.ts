import { randomUUID } from 'node:crypto';
import type { ProviderConfig } from '../config/provider-schema';
import { ConfigurationError } from '../errors';
import type { AssertionSigner } from './assertion-signer';
import { derBase64 } from './certificate-chain';
import { compactJws } from './jws-signature';

/**
 * The JWT-bearer grant's assertion (RFC 7523 §2.1) signed by a key outside the process, with the claims
 * grant.ts gives one signed in process; its algorithm is the signing key's. The key is named by `kid` (the
 * entry's or the key's thumbprint) or by the certificate chain (`x5c`, from the entry or the secret).
 */
export async function signerAssertion(
  provider: ProviderConfig,
  assertion: NonNullable<ProviderConfig['assertion']>,
  credentials: { readonly clientId: string; readonly certificateChain?: readonly string[] },
  signer: AssertionSigner,
  scopes: readonly string[],
  nowSeconds: number,
): Promise<string> {
  let naming: Record<string, unknown>;
  if (assertion.header === 'kid') {
    naming = { kid: await signer.keyId() };
  } else {
    if (!credentials.certificateChain) {
      throw new ConfigurationError(
        `provider ${provider.id} names its key by x5c: its signingKey or its secret needs certificate_chain`,
      );
    }
    naming = { x5c: credentials.certificateChain.map(derBase64) };
  }
  return compactJws(
    { alg: signer.algorithm, ...naming },
    {
      ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
      ...(assertion.resource ? { resource: assertion.resource } : {}),
      iss: credentials.clientId,
      aud: assertion.audience,
      iat: nowSeconds,
      exp: nowSeconds + assertion.lifetimeSeconds,
      jti: randomUUID(),
    },
    (input) => signer.sign(input),
  );
}
