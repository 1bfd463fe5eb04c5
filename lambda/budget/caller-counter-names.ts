import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { BoundedMap } from '../bounded-map';

/** Where the key that names callers in the budget counters comes from. */
export interface CounterKeySource {
  /** The HMAC key; rejects when it cannot be read now. */
  key(): Promise<Uint8Array>;
}

/** A key of this process alone, made at start: the local run's and the tests' (no fixed phrase to guess). */
export class RandomCounterKey implements CounterKeySource {
  private readonly bytes = randomBytes(32);

  async key(): Promise<Uint8Array> {
    return this.bytes;
  }
}

/** The counter key could not be read: budgets are counted in this container until it can. */
export class CounterKeyUnavailableError extends Error {
  override readonly name = 'CounterKeyUnavailableError';
}

export interface SecretsManagerCounterKeyOptions {
  readonly client: SecretsManagerClient;
  /** `TVM_COUNTER_KEY_SECRET_ARN`: a secret the stack creates, readable by the function's role alone. */
  readonly secretId: string;
  /** One read, retries included. @default 3000 */
  readonly timeoutMs?: number;
  /** After a failed read, the secret is not asked for again this long. @default 30000 */
  readonly retryAfterMs?: number;
  readonly now?: () => number;
}

/**
 * The counter key from Secrets Manager, read once per container and kept: its SecretString's UTF-8 bytes.
 * A failed read is remembered for `retryAfterMs`, so an outage costs one bounded read per container per
 * window, not one per vend.
 */
export class SecretsManagerCounterKey implements CounterKeySource {
  private cached: Promise<Uint8Array> | undefined;
  private failedUntilMs = 0;
  private readonly now: () => number;

  constructor(private readonly options: SecretsManagerCounterKeyOptions) {
    this.now = options.now ?? Date.now;
  }

  key(): Promise<Uint8Array> {
    if (this.cached) return this.cached;
    if (this.now() < this.failedUntilMs) {
      return Promise.reject(new CounterKeyUnavailableError('the counter key was unreadable a moment ago'));
    }
    const reading = this.read();
    this.cached = reading;
    reading.catch(() => {
      this.cached = undefined;
      this.failedUntilMs = this.now() + (this.options.retryAfterMs ?? 30_000);
    });
    return reading;
  }

  private async read(): Promise<Uint8Array> {
    let value: string | undefined;
    try {
      const answer = await this.options.client.send(
        new GetSecretValueCommand({ SecretId: this.options.secretId }),
        { abortSignal: AbortSignal.timeout(this.options.timeoutMs ?? 3000) },
      );
      value = answer.SecretString;
    } catch (error) {
      // The SDK's error names the secret and the fault, never its value.
      throw new CounterKeyUnavailableError(
        `cannot read the counter key ${this.options.secretId} (${(error as Error).name})`,
      );
    }
    // A short key would make the counter names guessable again.
    if (value === undefined || Buffer.byteLength(value, 'utf8') < 32) {
      throw new CounterKeyUnavailableError(
        `the counter key ${this.options.secretId} is not a SecretString of at least 32 bytes`,
      );
    }
    return Buffer.from(value, 'utf8');
  }
}

/**
 * Names a caller in the budget counters by an HMAC-SHA256 of its principal under the counter key: a reader of
 * the table cannot match candidate role ARNs against the counters without the key, which only the function
 * may read.
 */
export class CallerCounterNames {
  /** Each caller's name under the key it was made with: every charge names its caller. */
  private named?: { from: Uint8Array; names: BoundedMap<string, string> };

  constructor(private readonly source: CounterKeySource) {}

  async of(principal: string): Promise<string> {
    const key = await this.source.key();
    if (this.named?.from !== key) this.named = { from: key, names: new BoundedMap(1000) };
    const known = this.named.names.get(principal);
    if (known !== undefined) return known;
    const name = createHmac('sha256', key).update(principal, 'utf8').digest('base64url').slice(0, 22);
    this.named.names.set(principal, name);
    return name;
  }
}

const SEALED_PRINCIPAL = 'p1.';
const PRINCIPAL_AAD = Buffer.from('token-vending in-use principal v1');

/**
 * The principal an in-use mark records (whose budget pays for the renewal, and whose policy it is checked
 * against), sealed under a key derived from the counter key: a table reader sees neither the role ARN nor
 * anything to match candidates against without the key. Deterministic (the IV is an HMAC of the principal),
 * so the same caller's marks from several containers stay one entry of the index's set; that tells a reader
 * only what the counter names already tell — that two marks have the same caller.
 */
export class SealedPrincipals {
  private derived?: { from: Uint8Array; key: Buffer };
  /**
   * Each principal as sealed under the current key: a seal is deterministic, so one per caller is enough
   * (a mark is written on every miss; sealing anew cost each one an AES key schedule). Emptied with the key.
   */
  private readonly sealedUnder = new BoundedMap<string, string>(1000);

  constructor(private readonly source: CounterKeySource) {}

  async seal(principal: string): Promise<string> {
    const key = await this.key();
    const known = this.sealedUnder.get(principal);
    if (known !== undefined) return known;
    const iv = createHmac('sha256', key).update(principal, 'utf8').digest().subarray(0, 12);
    const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(PRINCIPAL_AAD);
    const sealed = Buffer.concat([iv, cipher.update(principal, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    const text = `${SEALED_PRINCIPAL}${sealed.toString('base64url')}`;
    this.sealedUnder.set(principal, text);
    return text;
  }

  /** The principal, or undefined for anything not sealed under this key (planted, or the key was replaced). */
  async open(sealed: string): Promise<string | undefined> {
    if (!sealed.startsWith(SEALED_PRINCIPAL)) return undefined;
    const bytes = Buffer.from(sealed.slice(SEALED_PRINCIPAL.length), 'base64url');
    if (bytes.length < 12 + 16 + 1) return undefined;
    const key = await this.key();
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12)).setAAD(PRINCIPAL_AAD);
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return Buffer.concat([
        decipher.update(bytes.subarray(12, bytes.length - 16)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      return undefined;
    }
  }

  private async key(): Promise<Buffer> {
    const from = await this.source.key();
    if (this.derived?.from !== from) {
      const key = Buffer.from(hkdfSync('sha256', from, Buffer.alloc(0), PRINCIPAL_AAD, 32));
      this.derived = { from, key };
      this.sealedUnder.prune(() => true);
    }
    return this.derived.key;
  }
}
