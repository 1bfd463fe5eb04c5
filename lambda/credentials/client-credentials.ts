import * as z from 'zod/mini';
import '../config/zod-locale';
import { ConfigurationError, VendError } from '../errors';
import type { AssertionSigner } from '../oauth/assertion-signer';

/** What a provider's secret holds: only what is secret (docs/DESIGN.md, "Providers"). */
export type ClientCredentials =
  | { readonly clientId: string; readonly clientSecret: string }
  | {
      readonly clientId: string;
      readonly privateKey: string | Readonly<Record<string, unknown>>;
      readonly keyId?: string;
      readonly certificateChain?: readonly string[];
      readonly clientCertificate?: string;
      readonly serverCa?: string;
    }
  | {
      // A provider whose key is in KMS (`signingKey`): the secret holds the client id (and an x5c chain) only.
      readonly clientId: string;
      readonly certificateChain?: readonly string[];
      readonly signer?: AssertionSigner;
    };

export interface CredentialSource {
  /** The credentials stored under `secretId`; cached by the implementation for a bounded time. */
  get(secretId: string): Promise<ClientCredentials>;
  /** The client id of `secretId`: what the cache key needs, from the last good read when there is one. */
  clientId(secretId: string): Promise<string>;
  /** Forget a cached value, e.g. after the provider answered `invalid_client` because the secret rotated. */
  invalidate(secretId: string): void;
}

/** Secrets Manager did not answer, or answered that it is unwell: nothing is wrong with the secret. */
export class SecretStoreUnavailableError extends VendError {
  constructor(
    readonly secretId: string,
    readonly reason: string,
  ) {
    super('service_unavailable', 'The secret store is unavailable; try again shortly.', {
      retryAfterSeconds: 5,
    });
  }
}

const nonEmpty = () => z.string().check(z.minLength(1));
const SecretDocumentSchema = z.union([
  z.strictObject({ client_id: nonEmpty(), client_secret: nonEmpty() }),
  z.strictObject({
    client_id: nonEmpty(),
    // A PEM string (PKCS#8 or PKCS#1), or a private JWK object.
    private_key: z.union([nonEmpty(), z.record(z.string(), z.unknown())]),
    key_id: z.optional(nonEmpty()),
    // For an x5c header: the certificate chain, leaf first, each base64 DER (as x5c carries them) or PEM.
    certificate_chain: z.optional(z.array(nonEmpty()).check(z.minLength(1), z.maxLength(10))),
    // For tls_client_auth: the client certificate (PEM) the private key belongs to, and a private CA of the
    // provider's server certificate where it is not a public one.
    client_certificate: z.optional(nonEmpty()),
    server_ca: z.optional(nonEmpty()),
  }),
  // For an entry whose key is in KMS: the client id, and the x5c chain if the entry does not carry it.
  z.strictObject({
    client_id: nonEmpty(),
    certificate_chain: z.optional(z.array(nonEmpty()).check(z.minLength(1), z.maxLength(10))),
  }),
]);

/**
 * Parses a secret's JSON. Errors name the secret and the expected shape but never quote the text: a
 * parser's message would echo part of the secret.
 */
export function parseSecretDocument(secretId: string, text: string | undefined): ClientCredentials {
  if (text === undefined)
    throw new ConfigurationError(`secret ${secretId} has no string value; put its JSON value`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigurationError(`secret ${secretId} is not JSON`);
  }
  const parsed = SecretDocumentSchema.safeParse(json);
  if (!parsed.success) {
    // The keys found, never their values: enough to see what is wrong with it.
    const keys =
      typeof json === 'object' && json !== null && !Array.isArray(json)
        ? Object.keys(json)
            .slice(0, 10)
            .map((key) => key.slice(0, 40))
            .join(', ') || 'none'
        : `no keys (a JSON ${Array.isArray(json) ? 'array' : typeof json})`;
    throw new ConfigurationError(
      `secret ${secretId} must be {"client_id","client_secret"}, {"client_id","private_key","key_id"?} or (a key in KMS) {"client_id"}; found: ${keys}`,
    );
  }
  const document = parsed.data;
  if ('client_secret' in document)
    return { clientId: document.client_id, clientSecret: document.client_secret };
  if (!('private_key' in document)) {
    return {
      clientId: document.client_id,
      ...(document.certificate_chain === undefined ? {} : { certificateChain: document.certificate_chain }),
    };
  }
  return {
    clientId: document.client_id,
    privateKey: document.private_key,
    ...(document.key_id === undefined ? {} : { keyId: document.key_id }),
    ...(document.certificate_chain === undefined ? {} : { certificateChain: document.certificate_chain }),
    ...(document.client_certificate === undefined ? {} : { clientCertificate: document.client_certificate }),
    ...(document.server_ca === undefined ? {} : { serverCa: document.server_ca }),
  };
}
