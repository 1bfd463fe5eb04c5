import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { type DataKey, type DataKeySource, SealError } from '../lambda/cache/token-sealer';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Data keys wrapped under a local 256-bit key with AES-256-GCM, the encryption context as additional data:
 * the local run's and the tests' stand-in for KMS, with the same semantics (a key wrapped for one provider
 * does not unwrap for another). Counts its calls, as KMS calls would be counted.
 */
export class LocalDataKeys implements DataKeySource {
  calls = 0;

  constructor(private readonly wrappingKey: Uint8Array) {
    if (wrappingKey.length !== 32) throw new Error('a local wrapping key is 32 bytes');
  }

  async generate(context: Readonly<Record<string, string>>): Promise<DataKey> {
    this.calls += 1;
    const plaintext = randomBytes(32);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.wrappingKey, iv);
    cipher.setAAD(Buffer.from(JSON.stringify(context)));
    const wrapped = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { plaintext, wrapped };
  }

  async unwrap(wrapped: Uint8Array, context: Readonly<Record<string, string>>): Promise<Uint8Array> {
    this.calls += 1;
    const bytes = Buffer.from(wrapped);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.wrappingKey, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(JSON.stringify(context)));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new SealError('the data key does not unwrap under the local key');
    }
  }
}
