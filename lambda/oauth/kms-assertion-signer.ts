import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { VendError } from '../errors';
import type { AssertionSigner, PublicSigningJwk, SigningAlgorithm } from './assertion-signer';
import { derToJoseSignature } from './jws-signature';
import { KMS_SIGNING_ALGORITHM } from './kms-signing-algorithms';
import { publicSigningJwk } from './public-signing-key';

/** KMS signs a RAW message of at most this many bytes; an assertion is a few hundred. */
export const MAX_RAW_MESSAGE_BYTES = 4096;

/** One KMS call, the SDK's own retries included. */
export const KMS_SIGN_TIMEOUT_MS = 2000;

export interface KmsAssertionSignerOptions {
  /** A client with bounded retries and timeouts (see lambda/index.ts). */
  readonly client: KMSClient;
  readonly keyArn: string;
  readonly algorithm: SigningAlgorithm;
  /** The `kid` the provider fixed at registration; else the key's thumbprint. */
  readonly kid?: string | undefined;
  /** For an x5c header: the chain kept in the entry, shown by the public-key command. */
  readonly certificateChain?: readonly string[] | undefined;
  /** @default KMS_SIGN_TIMEOUT_MS */
  readonly timeoutMs?: number;
}

/**
 * Signs with an asymmetric KMS key (`kms:Sign`, message type RAW): the private key never leaves KMS. ES256
 * answers are DER and are turned into JOSE's `r‖s`. The public key is read once (`GetPublicKey`) for the
 * thumbprint `kid`, and read again only after a failure. A KMS failure is the service's, not the provider's:
 * 503 `service_unavailable`, which does not count towards the provider's backoff.
 */
export class KmsAssertionSigner implements AssertionSigner {
  readonly algorithm: SigningAlgorithm;
  private publicKey: Promise<PublicSigningJwk> | undefined;

  constructor(private readonly options: KmsAssertionSignerOptions) {
    this.algorithm = options.algorithm;
  }

  async keyId(): Promise<string> {
    return this.options.kid ?? (await this.publicJwk()).kid;
  }

  publicJwk(): Promise<PublicSigningJwk> {
    this.publicKey ??= this.readPublicKey().catch((error: unknown) => {
      this.publicKey = undefined;
      throw error;
    });
    return this.publicKey;
  }

  async sign(signingInput: Uint8Array): Promise<Uint8Array> {
    if (signingInput.length > MAX_RAW_MESSAGE_BYTES) {
      throw new VendError(
        'internal_error',
        `The assertion is ${signingInput.length} bytes; KMS signs at most ${MAX_RAW_MESSAGE_BYTES}.`,
      );
    }
    const { Signature } = await this.call('Sign', () =>
      this.options.client.send(
        new SignCommand({
          KeyId: this.options.keyArn,
          Message: signingInput,
          MessageType: 'RAW',
          SigningAlgorithm: KMS_SIGNING_ALGORITHM[this.algorithm],
        }),
        { abortSignal: AbortSignal.timeout(this.options.timeoutMs ?? KMS_SIGN_TIMEOUT_MS) },
      ),
    );
    if (!Signature) throw unavailable('Sign', 'no signature');
    try {
      return this.algorithm === 'ES256' ? derToJoseSignature(Signature) : Signature;
    } catch (error) {
      throw unavailable('Sign', (error as Error).message);
    }
  }

  private async readPublicKey(): Promise<PublicSigningJwk> {
    const { PublicKey, KeyUsage } = await this.call('GetPublicKey', () =>
      this.options.client.send(new GetPublicKeyCommand({ KeyId: this.options.keyArn }), {
        abortSignal: AbortSignal.timeout(this.options.timeoutMs ?? KMS_SIGN_TIMEOUT_MS),
      }),
    );
    if (!PublicKey || KeyUsage !== 'SIGN_VERIFY') {
      throw new VendError('internal_error', 'The signing key is not a KMS SIGN_VERIFY key.');
    }
    try {
      return await publicSigningJwk(PublicKey, this.algorithm, {
        kid: this.options.kid,
        certificateChain: this.options.certificateChain,
      });
    } catch (error) {
      throw new VendError('internal_error', `The signing key does not fit: ${(error as Error).message}.`);
    }
  }

  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      // The SDK's error goes along as the cause (never into the message): an operator tool may read it.
      throw Object.assign(unavailable(operation, (error as Error).name), { cause: error });
    }
  }
}

/** The error's name only: KMS messages carry the key ARN, which callers need not see. */
const unavailable = (operation: string, reason: string) =>
  new VendError(
    'service_unavailable',
    `The signing key is unavailable (KMS ${operation}: ${reason}); try again shortly.`,
    {
      retryAfterSeconds: 5,
    },
  );
