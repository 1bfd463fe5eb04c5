import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { ProviderConfig } from '../config/provider-schema';
import type { ClientCredentials } from '../credentials/client-credentials';
import { ConfigurationError } from '../errors';
import { derBase64 } from './certificate-chain';
import { importSigningKey } from './client-authentication';
import { signerAssertion } from './signed-grant-assertion';

/** The grant a token request makes: its type (undefined for client credentials) and its parameters. */
export interface Grant {
  readonly grantType?: string;
  readonly parameters: URLSearchParams;
}

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/**
 * The grant of one token request for a provider: client credentials with the scopes and audience asked, or
 * the JWT-bearer grant (RFC 7523 §2.1) whose assertion this builds and signs — a new `jti` every time, `iat`
 * now and `exp` within the entry's lifetime. The entry's fixed `extraParameters` go with either.
 */
export async function grantFor(
  provider: ProviderConfig,
  credentials: ClientCredentials,
  scopes: readonly string[],
  audience: string | undefined,
  nowSeconds: number,
): Promise<Grant> {
  const parameters = new URLSearchParams(provider.extraParameters ?? {});
  if (provider.grantType === 'jwt_bearer' && provider.assertion) {
    parameters.set(
      'assertion',
      await signAssertion(provider, provider.assertion, credentials, scopes, nowSeconds),
    );
    return { grantType: JWT_BEARER, parameters };
  }
  if (scopes.length > 0) parameters.set('scope', scopes.join(' '));
  if (audience !== undefined && provider.audienceParameter !== 'none') {
    parameters.set(provider.audienceParameter, audience);
  }
  return { parameters };
}

async function signAssertion(
  provider: ProviderConfig,
  assertion: NonNullable<ProviderConfig['assertion']>,
  credentials: ClientCredentials,
  scopes: readonly string[],
  nowSeconds: number,
): Promise<string> {
  // A key in KMS (`signingKey`): signed there, once per request.
  if ('signer' in credentials && credentials.signer)
    return signerAssertion(provider, assertion, credentials, credentials.signer, scopes, nowSeconds);
  if (!('privateKey' in credentials)) {
    throw new ConfigurationError(
      `provider ${provider.id} uses the JWT-bearer grant but its secret has no private_key`,
    );
  }
  const header =
    assertion.header === 'kid'
      ? credentials.keyId
        ? { kid: credentials.keyId }
        : undefined
      : credentials.certificateChain
        ? { x5c: credentials.certificateChain.map(derBase64) }
        : undefined;
  if (!header) {
    throw new ConfigurationError(
      `provider ${provider.id} names its key by ${assertion.header}: its secret needs ${assertion.header === 'kid' ? 'key_id' : 'certificate_chain'}`,
    );
  }
  let key: CryptoKey;
  try {
    key = await importSigningKey(credentials.privateKey, assertion.algorithm);
  } catch (error) {
    throw new ConfigurationError(`provider ${provider.id}: ${(error as Error).message}`);
  }
  return new SignJWT({
    ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
    ...(assertion.resource ? { resource: assertion.resource } : {}),
  })
    .setProtectedHeader({ alg: assertion.algorithm, ...header })
    .setIssuer(credentials.clientId)
    .setAudience(assertion.audience)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + assertion.lifetimeSeconds)
    .setJti(randomUUID())
    .sign(key);
}
