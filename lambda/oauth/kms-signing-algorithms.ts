import type { SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import type { SigningAlgorithm } from './assertion-signer';

/**
 * KMS's name for each JWS algorithm (RFC 7518 §3.1): what the function asks `Sign` for, and what the key
 * policy's `kms:SigningAlgorithm` condition allows. One table, so the two cannot drift apart.
 */
export const KMS_SIGNING_ALGORITHM: Readonly<Record<SigningAlgorithm, SigningAlgorithmSpec>> = {
  RS256: 'RSASSA_PKCS1_V1_5_SHA_256',
  PS256: 'RSASSA_PSS_SHA_256',
  ES256: 'ECDSA_SHA_256',
};
