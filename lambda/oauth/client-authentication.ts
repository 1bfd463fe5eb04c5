import { createPrivateKey, type KeyObject } from 'node:crypto';
import { importJWK, importPKCS8, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import type { ProviderConfig } from '../config/provider-schema';
import type { ClientCredentials } from '../credentials/client-credentials';
import { ConfigurationError } from '../errors';
import { signerPrivateKeyJwt } from './signed-client-assertion';

/**
 * Turns a PEM (PKCS#8 or PKCS#1) or a private JWK into a signing key. Errors never quote the key.
 */
export async function importSigningKey(
  privateKey: string | Readonly<Record<string, unknown>>,
  algorithm: string,
): Promise<CryptoKey> {
  try {
    if (typeof privateKey !== 'string') {
      const key = await importJWK(privateKey as JWK, algorithm);
      if (!(key instanceof CryptoKey) || key.type !== 'private') throw new Error('not a private key');
      return key;
    }
    // Node reads PKCS#1 ("BEGIN RSA PRIVATE KEY") as well as PKCS#8; WebCrypto only takes PKCS#8.
    const keyObject: KeyObject = createPrivateKey(privateKey);
    const pkcs8 = keyObject.export({ format: 'pem', type: 'pkcs8' }).toString();
    return await importPKCS8(pkcs8, algorithm);
  } catch {
    throw new ConfigurationError(`the private_key in the secret is not a usable ${algorithm} private key`);
  }
}

/**
 * The oauth4webapi client-authentication strategy for a provider (RFC 6749 §2.3.1, RFC 7523 §2.2).
 * For `private_key_jwt` the assertion's `aud` is the token endpoint, as RFC 7523 §3 and the providers expect;
 * oauth4webapi would otherwise put the issuer there. Each call signs a new assertion with a fresh `jti`.
 */
export async function clientAuthenticationFor(
  provider: ProviderConfig,
  credentials: ClientCredentials,
): Promise<oauth.ClientAuth> {
  const toTokenEndpoint = {
    [oauth.modifyAssertion]: (_header: Record<string, unknown>, payload: Record<string, unknown>) => {
      payload.aud = provider.tokenEndpoint;
    },
  };
  switch (provider.clientAuth) {
    case 'none':
      // The JWT-bearer grant's signed assertion is the client's proof; nothing else is sent, not even a
      // client_id (oauth4webapi's None() would add one, which Maskinporten's grant does not take).
      return () => undefined;
    case 'client_secret_basic':
    case 'client_secret_post':
    case 'client_secret_jwt': {
      if (!('clientSecret' in credentials)) {
        throw new ConfigurationError(
          `provider ${provider.id} uses ${provider.clientAuth} but its secret has no client_secret`,
        );
      }
      if (provider.clientAuth === 'client_secret_jwt') {
        // RFC 7523 §2.2: an HS256 assertion keyed by the client secret, `aud` the token endpoint.
        return oauth.ClientSecretJwt(credentials.clientSecret, toTokenEndpoint);
      }
      return provider.clientAuth === 'client_secret_basic'
        ? oauth.ClientSecretBasic(credentials.clientSecret)
        : oauth.ClientSecretPost(credentials.clientSecret);
    }
    case 'tls_client_auth': {
      if (
        !('clientCertificate' in credentials) ||
        !credentials.clientCertificate ||
        typeof credentials.privateKey !== 'string'
      ) {
        throw new ConfigurationError(
          `provider ${provider.id} uses tls_client_auth but its secret has no client_certificate and PEM private_key`,
        );
      }
      // The certificate is presented by the transport (guarded-fetch); the body names the client.
      return oauth.TlsClientAuth();
    }
    case 'private_key_jwt': {
      // A key in KMS (`signingKey`): signed there, once per request.
      if ('signer' in credentials && credentials.signer)
        return signerPrivateKeyJwt(provider.tokenEndpoint, credentials.signer);
      if (!('privateKey' in credentials)) {
        throw new ConfigurationError(
          `provider ${provider.id} uses private_key_jwt but its secret has no private_key`,
        );
      }
      const key = await importSigningKey(credentials.privateKey, provider.assertionAlgorithm);
      return oauth.PrivateKeyJwt(
        credentials.keyId ? { key, kid: credentials.keyId } : { key },
        toTokenEndpoint,
      );
    }
  }
}
