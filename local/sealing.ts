import { createHash } from 'node:crypto';
import { EnvelopeSealer, LocalDataKeys } from '../lambda/cache/token-sealer';

/**
 * The local run's stand-in for the stack's KMS key: a 256-bit wrapping key from `TVM_SEALING_KEY` (base64),
 * or one derived from a fixed phrase, so that local instances sharing a table open each other's tokens. It
 * protects nothing outside this machine; in AWS the key is in KMS and only the function's role may use it.
 */
export function localWrappingKey(): Buffer {
  const configured = process.env.TVM_SEALING_KEY;
  if (configured) {
    const key = Buffer.from(configured, 'base64');
    if (key.length !== 32) throw new Error('TVM_SEALING_KEY must be 32 bytes, base64-encoded');
    return key;
  }
  return createHash('sha256').update('token-vending local run: not a secret').digest();
}

/** A sealer of its own (its own data-key cache, as each container has), on the local wrapping key. */
export const localSealer = (): EnvelopeSealer =>
  new EnvelopeSealer({ dataKeys: new LocalDataKeys(localWrappingKey()) });
