import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SigningKeyEntry } from '../lambda/config/provider-schema';
import type { AssertionSigner, PublicSigningJwk, SigningAlgorithm } from '../lambda/oauth/assertion-signer';
import { publicSigningJwk } from '../lambda/oauth/public-signing-key';
import type { SignerFactory } from '../lambda/oauth/signing-keys';

/** Where the local run keeps its stand-in keys, so `public-key --env local` prints what the run signs with. */
export const LOCAL_SIGNING_KEYS_DIR = join(__dirname, '..', '.cache', 'local-signing-keys');

/**
 * The local run's stand-in for a KMS signing key (as `local/sealing.ts` is for the sealing key): a key pair
 * per provider key, made on first use and kept in `.cache/local-signing-keys` (or `TVM_LOCAL_SIGNING_KEYS`),
 * signing in process with what KMS would answer after JOSE's conversion. Nothing here is for AWS.
 */
export class LocalAssertionSigner implements AssertionSigner {
  private jwk: Promise<PublicSigningJwk> | undefined;

  constructor(
    private readonly privateKey: KeyObject,
    readonly algorithm: SigningAlgorithm,
    private readonly key: Pick<SigningKeyEntry, 'kid' | 'certificateChain'> = {},
  ) {}

  async keyId(): Promise<string> {
    return this.key.kid ?? (await this.publicJwk()).kid;
  }

  async sign(signingInput: Uint8Array): Promise<Uint8Array> {
    return sign('sha256', signingInput, {
      key: this.privateKey,
      ...(this.algorithm === 'PS256'
        ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
        : { dsaEncoding: 'ieee-p1363' as const }),
    });
  }

  publicJwk(): Promise<PublicSigningJwk> {
    this.jwk ??= publicSigningJwk(createPublicKey(this.privateKey), this.algorithm, {
      kid: this.key.kid,
      certificateChain: this.key.certificateChain,
    });
    return this.jwk;
  }
}

/** The file of one key: the provider and the key's identity, so a switch from next to current keeps it. */
function keyFile(dir: string, providerId: string, key: SigningKeyEntry): string {
  const which =
    key.kms === 'create'
      ? `create-${key.name ?? '1'}`
      : createHash('sha256').update(key.kms).digest('hex').slice(0, 16);
  return join(dir, `${providerId}.${which}.${key.algorithm}.pem`);
}

function loadOrCreate(path: string, algorithm: SigningAlgorithm): KeyObject {
  try {
    return createPrivateKey(readFileSync(path, 'utf8'));
  } catch {
    const { privateKey } =
      algorithm === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    return privateKey;
  }
}

/** Signers on the local stand-in keys. */
export function localSignerFactory(
  dir = process.env.TVM_LOCAL_SIGNING_KEYS || LOCAL_SIGNING_KEYS_DIR,
): SignerFactory {
  return (provider, key) => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return new LocalAssertionSigner(
      loadOrCreate(keyFile(dir, provider.id, key), key.algorithm),
      key.algorithm,
      key,
    );
  };
}
