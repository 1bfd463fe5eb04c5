import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { DataKey, DataKeySource } from './token-sealer';

export interface KmsDataKeysOptions {
  readonly client: KMSClient;
  /** The stack's sealing key: its key policy lets only the function's role use it. */
  readonly keyId: string;
  /** One KMS call, retries included. @default 2000 */
  readonly timeoutMs?: number;
}

/** Data keys from KMS: `GenerateDataKey` to seal, `Decrypt` to open, always under the same encryption context. */
export class KmsDataKeys implements DataKeySource {
  private readonly timeoutMs: number;

  constructor(private readonly options: KmsDataKeysOptions) {
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  async generate(context: Readonly<Record<string, string>>): Promise<DataKey> {
    const { Plaintext, CiphertextBlob } = await this.options.client.send(
      new GenerateDataKeyCommand({
        KeyId: this.options.keyId,
        KeySpec: 'AES_256',
        EncryptionContext: { ...context },
      }),
      { abortSignal: AbortSignal.timeout(this.timeoutMs) },
    );
    if (!Plaintext || !CiphertextBlob) throw new Error('KMS GenerateDataKey returned no key');
    return { plaintext: Plaintext, wrapped: CiphertextBlob };
  }

  async unwrap(wrapped: Uint8Array, context: Readonly<Record<string, string>>): Promise<Uint8Array> {
    const { Plaintext } = await this.options.client.send(
      new DecryptCommand({
        KeyId: this.options.keyId,
        CiphertextBlob: wrapped,
        EncryptionContext: { ...context },
      }),
      { abortSignal: AbortSignal.timeout(this.timeoutMs) },
    );
    if (!Plaintext) throw new Error('KMS Decrypt returned no key');
    return Plaintext;
  }
}
