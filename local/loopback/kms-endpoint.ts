import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KMSClient } from '@aws-sdk/client-kms';
import { type CallerKey, SignatureError, verifySigV4 } from '../sigv4-verifier';
import { LoopbackSigningKeys } from './kms-signing-keys';

/**
 * A symmetric key's id and material. Given to the endpoints of two regions it is a multi-Region key and its
 * replica: ARNs that differ by region, one key material, so each region decrypts what the other's made.
 */
export interface LoopbackSymmetricKey {
  readonly id: string;
  readonly material: Buffer;
}

/** A multi-Region key (`mrk-…`), as `CreateKey` with `MultiRegion` and `ReplicateKey` make the pair. */
export const multiRegionKey = (): LoopbackSymmetricKey => ({
  id: `mrk-${randomBytes(16).toString('hex')}`,
  material: randomBytes(32),
});

export interface KmsEndpointOptions {
  /** The region the endpoint serves: in its key's ARN and the SigV4 scope it accepts. @default us-east-1 */
  readonly region?: string;
  /** @default a single-Region key of this endpoint's own */
  readonly key?: LoopbackSymmetricKey;
}

export interface KmsEndpoint {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: CallerKey;
  readonly keyId: string;
  /** Operations received, in order (`GenerateDataKey`, `Decrypt`). */
  readonly calls: string[];
  /** Disables the key, as `kms:DisableKey` (or revoking the function's use of it) does: every call is refused. */
  setDisabled(disabled: boolean): void;
  /** Asymmetric keys: `CreateKey`, `Sign`, `GetPublicKey` (see kms-signing-keys.ts). */
  readonly signingKeys: LoopbackSigningKeys;
  close(): Promise<void>;
}

/**
 * A minimal KMS on loopback: the AWS JSON 1.1 protocol's `GenerateDataKey` and `Decrypt` for one key, with
 * SigV4 verified for service `kms`, and the encryption context enforced as KMS enforces it (a data key
 * decrypts only under the context it was generated with). No KMS emulator is in reach here, so the real SDK
 * client is exercised against this instead. One endpoint is one region's KMS: a multi-Region key is the
 * same {@link LoopbackSymmetricKey} given to two endpoints (see {@link multiRegionKey}); each answers only to
 * its own region's ARN of it, and a data key made under one opens under the other, not under another key.
 */
export async function startKmsEndpoint(
  credentials: CallerKey = {
    accessKeyId: 'AKIAKMSTEST000000001',
    secretAccessKey: 'kms-test-secret-key',
    principalArn: 'arn:aws:iam::111122223333:role/token-vending-function',
  },
  options: KmsEndpointOptions = {},
): Promise<KmsEndpoint> {
  const region = options.region ?? 'us-east-1';
  const key = options.key ?? {
    id: '0b7c8a4e-0000-4000-8000-000000000001',
    material: randomBytes(32),
  };
  const keyId = `arn:aws:kms:${region}:111122223333:key/${key.id}`;
  const masterKey = key.material;
  const calls: string[] = [];
  let disabled = false;
  const signingKeys = new LoopbackSigningKeys('arn:aws:kms:us-east-1:111122223333:key/');
  // The key's id (not its region) is bound in too: a replica opens the blob, an unrelated key does not.
  const contextOf = (context: unknown) =>
    Buffer.from(JSON.stringify([key.id, Object.entries((context ?? {}) as Record<string, string>).sort()]));

  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const answer = (status: number, payload: unknown, type?: string) => {
      response.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        ...(type ? { 'x-amzn-errortype': type } : {}),
      });
      response.end(JSON.stringify(type ? { __type: type, message: String(payload) } : payload));
    };
    try {
      await verifySigV4(
        { method: request.method ?? 'POST', target: request.url ?? '/', headers: request.headers, body },
        new Map([[credentials.accessKeyId, credentials]]),
        { service: 'kms', region },
      );
    } catch (error) {
      if (error instanceof SignatureError) return answer(400, error.message, 'InvalidSignatureException');
      throw error;
    }
    const operation = String(request.headers['x-amz-target'] ?? '').replace('TrentService.', '');
    calls.push(operation);
    const input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const signing = signingKeys.handle(operation, input);
    if (signing) return answer(signing.status, signing.payload, signing.type);
    if (input.KeyId !== undefined && input.KeyId !== keyId)
      return answer(400, 'no such key', 'NotFoundException');
    if (disabled) return answer(400, `${keyId} is disabled.`, 'DisabledException');
    if (operation === 'GenerateDataKey') {
      const plaintext = randomBytes(32);
      const iv = randomBytes(12);
      iv[0] = (iv[0] ?? 0) & 0x7f;
      const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
      cipher.setAAD(contextOf(input.EncryptionContext));
      const blob = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return answer(200, {
        KeyId: keyId,
        Plaintext: plaintext.toString('base64'),
        CiphertextBlob: blob.toString('base64'),
      });
    }
    if (operation === 'Decrypt') {
      const blob = Buffer.from(String(input.CiphertextBlob ?? ''), 'base64');
      // As KMS answers: an empty blob fails validation; a blob whose header names another key (here: a first
      // byte of 0xff, which no blob of this key has... by chance once in 256, so the blobs below avoid it)
      // is IncorrectKeyException.
      if (blob.length === 0) return answer(400, 'CiphertextBlob is empty', 'ValidationException');
      if (blob[0] === 0xff)
        return answer(400, 'the ciphertext was made under another key', 'IncorrectKeyException');
      try {
        const decipher = createDecipheriv('aes-256-gcm', masterKey, blob.subarray(0, 12));
        decipher.setAAD(contextOf(input.EncryptionContext));
        decipher.setAuthTag(blob.subarray(blob.length - 16));
        const plaintext = Buffer.concat([
          decipher.update(blob.subarray(12, blob.length - 16)),
          decipher.final(),
        ]);
        return answer(200, { KeyId: keyId, Plaintext: plaintext.toString('base64') });
      } catch {
        return answer(
          400,
          'the ciphertext or its encryption context is not valid',
          'InvalidCiphertextException',
        );
      }
    }
    return answer(400, `only GenerateDataKey and Decrypt, not ${operation}`, 'UnknownOperationException');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    credentials,
    keyId,
    calls,
    signingKeys,
    setDisabled: (next) => {
      disabled = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The real SDK client, pointed at the loopback endpoint. */
export function kmsClient(endpoint: KmsEndpoint): KMSClient {
  return new KMSClient({
    endpoint: endpoint.endpoint,
    region: endpoint.region,
    credentials: endpoint.credentials,
    maxAttempts: 1,
  });
}
