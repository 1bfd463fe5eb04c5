import type { JWK } from 'jose';

/** The JWS algorithms a KMS-held key signs with (docs/providers.md, `signingKey`). */
export type SigningAlgorithm = 'RS256' | 'PS256' | 'ES256';

/** A public signing key as a provider registers it: RFC 7517 with `kid`, `alg`, `use: "sig"`, and `x5c` where known. */
export type PublicSigningJwk = JWK & {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly use: 'sig';
};

/**
 * Signs JWS signing inputs with a key the process never holds (a KMS key, or the local run's stand-in), and
 * names it: `kid` is the entry's where the provider fixed one, else the key's RFC 7638 thumbprint.
 */
export interface AssertionSigner {
  readonly algorithm: SigningAlgorithm;
  /** The `kid` of the assertions this signs. */
  keyId(): Promise<string>;
  /** The JWS signature (for ES256 the 64-byte `r‖s`) over `signingInput`. One remote call each time. */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
  /** The public half, for the provider's key registration and for verifying in tests. */
  publicJwk(): Promise<PublicSigningJwk>;
}

/** The current key a KMS-keyed provider signs with, and the next one operators register ahead of a switch. */
export interface ProviderSigners {
  readonly current: AssertionSigner;
  readonly next?: AssertionSigner;
}
