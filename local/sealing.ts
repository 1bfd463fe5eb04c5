import { randomBytes } from 'node:crypto';
import { EnvelopeSealer } from '../lambda/cache/token-sealer';
import { ConfigurationError } from '../lambda/errors';
import { LocalDataKeys } from './local-data-keys';

/** Made once per process when `TVM_SEALING_KEY` is not set: nothing fixed for a reader of the table to know. */
let runKey: Buffer | undefined;

/**
 * The local run's stand-in for the stack's KMS key: a 256-bit wrapping key from `TVM_SEALING_KEY` (base64),
 * or a random one for this run. Local instances that share a table must share the key too: give each the
 * same `TVM_SEALING_KEY`. In AWS the key is in KMS and only the function's role may use it.
 */
export function localWrappingKey(): Buffer {
  const configured = process.env.TVM_SEALING_KEY;
  if (configured) {
    const key = sealingKeyFrom(configured);
    if (!key) throw new ConfigurationError(SEALING_KEY_PROBLEM);
    return key;
  }
  runKey ??= randomBytes(32);
  return runKey;
}

export const SEALING_KEY_PROBLEM =
  'TVM_SEALING_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32)';

/**
 * The key `TVM_SEALING_KEY` gives, or undefined when it is not base64 of 32 bytes. Node's decoder skips
 * what is not base64, so a typo would otherwise give another key, or a short one.
 */
export function sealingKeyFrom(text: string): Buffer | undefined {
  const key = Buffer.from(text, 'base64');
  const canonical = (value: string) => value.trim().replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  return key.length === 32 && canonical(key.toString('base64')) === canonical(text) ? key : undefined;
}

/** A sealer of its own (its own data-key cache, as each container has), on the local wrapping key. */
export const localSealer = (): EnvelopeSealer =>
  new EnvelopeSealer({ dataKeys: new LocalDataKeys(localWrappingKey()) });
