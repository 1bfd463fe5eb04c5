import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
} from 'node:crypto';

/** What the loopback KMS answers: a status, a JSON payload, or an error type with its message. */
export interface KmsAnswer {
  readonly status: number;
  readonly payload: unknown;
  readonly type?: string;
}

type KeySpec = 'RSA_2048' | 'RSA_3072' | 'ECC_NIST_P256';

interface SigningKey {
  readonly spec: KeySpec;
  readonly privateKey: KeyObject;
  disabled: boolean;
}

const ALGORITHMS: Record<KeySpec, readonly string[]> = {
  RSA_2048: ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PSS_SHA_256'],
  RSA_3072: ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PSS_SHA_256'],
  ECC_NIST_P256: ['ECDSA_SHA_256'],
};

const error = (type: string, message: string): KmsAnswer => ({ status: 400, payload: message, type });

/**
 * The asymmetric half of the loopback KMS: `CreateKey` (KeyUsage SIGN_VERIFY, an RSA or P-256 KeySpec),
 * `Sign` (MessageType RAW, answering DER for ECDSA and PSS with a 32-byte salt as KMS does) and
 * `GetPublicKey` (SPKI DER), backed by Node crypto key pairs. `importKeyPair` stands in for KMS's import of
 * asymmetric key material (CreateKey with Origin EXTERNAL, then ImportKeyMaterial), whose wrapping this does
 * not emulate.
 */
export class LoopbackSigningKeys {
  private readonly keys = new Map<string, SigningKey>();
  /** Sign calls received, by key ARN. */
  readonly signCalls: string[] = [];

  constructor(private readonly arnPrefix: string) {}

  /** Adds a key with the given private key, as KMS holds imported key material; returns its ARN. */
  importKeyPair(privateKey: KeyObject | string): string {
    const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
    const spec: KeySpec =
      key.asymmetricKeyType === 'ec'
        ? 'ECC_NIST_P256'
        : key.asymmetricKeyDetails?.modulusLength === 3072
          ? 'RSA_3072'
          : 'RSA_2048';
    return this.add(spec, key);
  }

  setDisabled(keyArn: string, disabled: boolean): void {
    const key = this.keys.get(keyArn);
    if (!key) throw new Error(`no signing key ${keyArn}`);
    key.disabled = disabled;
  }

  /** Answers the operations this half knows, or undefined for the caller to answer. */
  handle(operation: string, input: Record<string, unknown>): KmsAnswer | undefined {
    try {
      return this.answer(operation, input);
    } catch (failure) {
      // Answered, never left hanging: a fault here is the test's, and should fail fast.
      return { status: 500, payload: String(failure), type: 'KMSInternalException' };
    }
  }

  private answer(operation: string, input: Record<string, unknown>): KmsAnswer | undefined {
    if (operation === 'CreateKey') return this.create(input);
    if (operation !== 'Sign' && operation !== 'GetPublicKey') return undefined;
    const key = this.keys.get(String(input.KeyId));
    if (!key) return undefined;
    if (key.disabled) return error('DisabledException', `${String(input.KeyId)} is disabled.`);
    if (operation === 'GetPublicKey') {
      const der = createPublicKey(key.privateKey).export({ format: 'der', type: 'spki' });
      return {
        status: 200,
        payload: {
          KeyId: input.KeyId,
          KeySpec: key.spec,
          KeyUsage: 'SIGN_VERIFY',
          PublicKey: Buffer.from(der).toString('base64'),
          SigningAlgorithms: ALGORITHMS[key.spec],
        },
      };
    }
    this.signCalls.push(String(input.KeyId));
    const algorithm = String(input.SigningAlgorithm);
    if (!ALGORITHMS[key.spec].includes(algorithm))
      return error('InvalidKeyUsageException', `${algorithm} is not valid for ${key.spec}`);
    if (input.MessageType !== 'RAW') return error('ValidationException', 'only MessageType RAW here');
    const message = Buffer.from(String(input.Message), 'base64');
    if (message.length > 4096) return error('ValidationException', 'message longer than 4096 bytes');
    const signature = sign('sha256', message, {
      key: key.privateKey,
      ...(algorithm === 'RSASSA_PSS_SHA_256'
        ? { padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }
        : {}),
    });
    return {
      status: 200,
      payload: {
        KeyId: input.KeyId,
        SigningAlgorithm: algorithm,
        Signature: signature.toString('base64'),
      },
    };
  }

  private create(input: Record<string, unknown>): KmsAnswer {
    if (input.KeyUsage !== 'SIGN_VERIFY') return error('ValidationException', 'only SIGN_VERIFY keys here');
    const spec = String(input.KeySpec) as KeySpec;
    if (!(spec in ALGORITHMS)) return error('ValidationException', `KeySpec ${spec} not supported here`);
    const { privateKey } =
      spec === 'ECC_NIST_P256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: spec === 'RSA_3072' ? 3072 : 2048 });
    const arn = this.add(spec, privateKey);
    return {
      status: 200,
      payload: {
        KeyMetadata: { Arn: arn, KeyId: arn.split('/').pop(), KeySpec: spec, KeyUsage: 'SIGN_VERIFY' },
      },
    };
  }

  private add(spec: KeySpec, privateKey: KeyObject): string {
    const arn = `${this.arnPrefix}${randomUUID()}`;
    this.keys.set(arn, { spec, privateKey, disabled: false });
    return arn;
  }
}
