import type { SigningAlgorithm } from './assertion-signer';

/** Bytes of one ECDSA P-256 coordinate: a JWS ES256 signature is `r‖s`, 64 bytes (RFC 7518 §3.4). */
const P256_COORDINATE_BYTES = 32;

/** A DER signature that is not an ECDSA `SEQUENCE { INTEGER r, INTEGER s }` of the expected size. */
export class MalformedSignatureError extends Error {
  override readonly name = 'MalformedSignatureError';
}

/**
 * KMS (and OpenSSL) return an ECDSA signature as DER `SEQUENCE { INTEGER r, INTEGER s }`; JOSE wants the two
 * integers as fixed-width big-endian octets side by side. Each integer is minimal two's complement: a leading
 * zero octet when its top bit is set, fewer octets when it is small, so both are stripped and padded.
 */
export function derToJoseSignature(der: Uint8Array, coordinateBytes = P256_COORDINATE_BYTES): Uint8Array {
  let offset = 0;
  const byte = (): number => {
    if (offset >= der.length) throw new MalformedSignatureError('DER signature ends early');
    return der[offset++] as number;
  };
  const length = (): number => {
    const first = byte();
    if (first < 0x80) return first;
    // Long form: a P-256 or P-384 signature needs at most one length octet.
    if (first !== 0x81) throw new MalformedSignatureError('DER length form not expected in a signature');
    const value = byte();
    if (value < 0x80) throw new MalformedSignatureError('DER length not minimal');
    return value;
  };
  if (byte() !== 0x30) throw new MalformedSignatureError('DER signature is not a SEQUENCE');
  if (length() !== der.length - offset) throw new MalformedSignatureError('DER SEQUENCE length is wrong');
  const out = new Uint8Array(coordinateBytes * 2);
  for (const slot of [0, 1]) {
    if (byte() !== 0x02) throw new MalformedSignatureError('DER signature part is not an INTEGER');
    const size = length();
    if (size === 0 || offset + size > der.length)
      throw new MalformedSignatureError('DER INTEGER length is wrong');
    let integer = der.subarray(offset, offset + size);
    offset += size;
    if (integer[0] === 0 && integer.length > 1) integer = integer.subarray(1);
    if (integer.length > coordinateBytes) throw new MalformedSignatureError('DER INTEGER too large');
    out.set(integer, slot * coordinateBytes + coordinateBytes - integer.length);
  }
  if (offset !== der.length) throw new MalformedSignatureError('DER signature has trailing bytes');
  return out;
}

/** A signing step that never hands out its key: KMS, or the local run's stand-in. */
export type SignBytes = (signingInput: Uint8Array) => Promise<Uint8Array>;

const base64url = (value: Uint8Array | string): string => Buffer.from(value).toString('base64url');

/**
 * A JWS in compact serialisation (RFC 7515 §7.1) whose signature comes from `sign`: jose's `CompactSign`
 * and oauth4webapi's `PrivateKeyJwt` take only a key they can use in process, which a KMS key is not.
 */
export async function compactJws(
  header: Readonly<Record<string, unknown>> & { readonly alg: SigningAlgorithm },
  payload: Readonly<Record<string, unknown>>,
  sign: SignBytes,
): Promise<string> {
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const signature = await sign(new TextEncoder().encode(signingInput));
  return `${signingInput}.${base64url(signature)}`;
}
