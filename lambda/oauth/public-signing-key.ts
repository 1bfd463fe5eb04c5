import { createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import type { PublicSigningJwk, SigningAlgorithm } from './assertion-signer';

/** The curve or key type each algorithm needs, to refuse a key of the wrong kind before it signs anything. */
const KEY_TYPE: Record<SigningAlgorithm, { kty: string; crv?: string }> = {
  RS256: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
};

/**
 * The JWK a provider registers for a public key (SPKI DER as KMS `GetPublicKey` returns it, or a key object):
 * `kid` as stated, else the RFC 7638 thumbprint, which any holder of the public key can recompute.
 */
export async function publicSigningJwk(
  publicKey: Uint8Array | KeyObject,
  algorithm: SigningAlgorithm,
  options: {
    readonly kid?: string | undefined;
    readonly certificateChain?: readonly string[] | undefined;
  } = {},
): Promise<PublicSigningJwk> {
  const key =
    publicKey instanceof Uint8Array
      ? createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' })
      : publicKey;
  const jwk = await exportJWK(key);
  const expected = KEY_TYPE[algorithm];
  if (jwk.kty !== expected.kty || (expected.crv !== undefined && jwk.crv !== expected.crv)) {
    throw new Error(`the key is ${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ''}, not a key for ${algorithm}`);
  }
  const kid = options.kid ?? (await calculateJwkThumbprint(jwk, 'sha256'));
  return {
    ...jwk,
    kid,
    alg: algorithm,
    use: 'sig',
    ...(options.certificateChain ? { x5c: [...options.certificateChain] } : {}),
  };
}
