import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { BoundedMap } from '../bounded-map';
import type { CachedToken } from './token-store';

/** Where a sealed token belongs: a ciphertext opens only under the same key, provider and generation. */
export interface SealContext {
  readonly key: string;
  readonly providerId: string;
  /**
   * The token's place among those written on the key (the item's write counter): a token put back after an
   * evict carries an older one than the evict's floor, and one moved to another generation does not open.
   */
  readonly generation: number;
}

/**
 * Seals a token before it leaves the container for the shared table, and opens it when read back: a reader of
 * the table (a role with `dynamodb:GetItem`, an export, a backup) sees no token, and a writer cannot plant one.
 */
export interface TokenSealer {
  seal(token: CachedToken, context: SealContext): Promise<Uint8Array>;
  /**
   * Starts getting the data key the next seal of `providerId`'s tokens needs, if it has none ready, and
   * returns at once: a miss calls it as it asks the provider, so the seal after the grant does not wait for
   * the key service too (a container's first miss of each provider).
   */
  prepare?(providerId: string): void;
  /** The token, or a {@link SealError} when the ciphertext is not one this service sealed for this context. */
  open(
    sealed: Uint8Array,
    times: Pick<CachedToken, 'issuedAt' | 'expiresAt'>,
    context: SealContext,
  ): Promise<CachedToken>;
}

/** The bytes are not a token this service sealed for this context: a planted, copied or tampered item. */
export class SealError extends Error {
  override readonly name = 'SealError';
}

/** The key service did not answer, refused to work, or throttled: nothing is known about the bytes. */
export class SealingUnavailableError extends Error {
  override readonly name = 'SealingUnavailableError';

  constructor(
    readonly operation: 'seal' | 'open',
    override readonly cause: unknown,
  ) {
    super(
      `the key service could not ${operation} (${cause instanceof Error ? cause.name : 'unknown error'})`,
    );
  }
}

/**
 * The key service's client errors that say "not these bytes" (a wrapped key that is not one, of another
 * key, or malformed) rather than "not now": any other client error is the key service being unavailable to
 * this function (disabled key, revoked grant, throttling).
 */
const UNAVAILABLE_CLIENT_ERRORS: ReadonlySet<string> = new Set([
  'AccessDeniedException',
  'DisabledException',
  'KMSInvalidStateException',
  'ThrottlingException',
  'LimitExceededException',
  'NotFoundException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
]);

/** Whether a key service error on bytes read from the table rejects those bytes. */
export function rejectsTheBytes(error: unknown): boolean {
  if (error instanceof SealError) return true;
  const { name, $fault } = error as { name?: unknown; $fault?: unknown };
  return $fault === 'client' && typeof name === 'string' && !UNAVAILABLE_CLIENT_ERRORS.has(name);
}

/** A data key in the clear, and the same key as the key service wrapped it. */
export interface DataKey {
  readonly plaintext: Uint8Array;
  readonly wrapped: Uint8Array;
}

/**
 * Where data keys come from: KMS in AWS (`GenerateDataKey` and `Decrypt` under the stack's key), a local
 * wrapping key in the local run and tests. `context` is the KMS encryption context: it names the provider, so
 * a data key serves one provider's tokens only.
 */
export interface DataKeySource {
  generate(context: Readonly<Record<string, string>>): Promise<DataKey>;
  unwrap(wrapped: Uint8Array, context: Readonly<Record<string, string>>): Promise<Uint8Array>;
}

export interface EnvelopeSealerOptions {
  readonly dataKeys: DataKeySource;
  readonly now?: () => number;
  /**
   * How long an unwrapped data key stays in this container, for sealing and for opening alike; then KMS is
   * asked again, so a disabled or revoked KMS key stops this container within this time. At most (and by
   * default) {@link DATA_KEY_MAX_AGE_MS}.
   */
  readonly dataKeyMaxAgeMs?: number;
  /** How many tokens one data key seals at most. @default 1000 */
  readonly dataKeyMaxUses?: number;
  /** Unwrapped data keys kept for opening, least recently used out first. @default 100 */
  readonly maxOpenKeys?: number;
}

/** The revocation time: disabling the KMS key stops sealing and opening in every container within it. */
export const DATA_KEY_MAX_AGE_MS = 5 * 60_000;

/**
 * Past this share of its age or uses, a sealing key's successor is asked of the key service in the
 * background while the key still seals: the seal after it does not wait for KMS on a miss's path.
 */
const RENEW_AHEAD_SHARE = 0.8;

/** 2: the seal binds the token's generation. Tokens of format 1 are a miss, fetched once more. */
const FORMAT = 2;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SERVICE = 'token-vending';

/** An unwrapped data key kept for opening; a promise, so that concurrent opens share one key-service call. */
interface OpeningKey {
  readonly plaintext: Promise<Uint8Array>;
  readonly createdAtMs: number;
}

/** A data key sealing new tokens; a promise, so that concurrent seals share one key-service call. */
interface SealingKey {
  readonly key: Promise<DataKey>;
  readonly createdAtMs: number;
  uses: number;
}

/**
 * Envelope encryption of a token: AES-256-GCM under a data key, the data key wrapped by the key service and
 * stored beside the ciphertext. The additional authenticated data binds the ciphertext to its cache key,
 * provider and lifetime, so an item copied onto another key, or given a later expiry, does not open.
 *
 * Data keys are cached, as the AWS Encryption SDK's caching materials manager does: one key seals a provider's
 * tokens for `dataKeyMaxAgeMs` or `dataKeyMaxUses`, whichever comes first, and unwrapped keys are kept for
 * opening (bounded, least recently used out first). A table hit therefore costs no key-service call once the
 * container has opened one token under that data key.
 *
 * Layout: format (1 byte) | wrapped-key length (2 bytes) | wrapped key | IV (12) | tag (16) | ciphertext.
 */
export class EnvelopeSealer implements TokenSealer {
  private readonly dataKeys: DataKeySource;
  private readonly now: () => number;
  private readonly maxAgeMs: number;
  private readonly maxUses: number;
  /** One per provider (a configured, small set), replaced by age or uses: not a cache that needs a bound. */
  private readonly sealing = new Map<string, SealingKey>();
  /** The successor of a provider's sealing key, asked for ahead (see {@link RENEW_AHEAD_SHARE}). */
  private readonly successors = new Map<string, SealingKey>();
  private readonly opening: BoundedMap<string, OpeningKey>;

  constructor(options: EnvelopeSealerOptions) {
    this.dataKeys = options.dataKeys;
    this.now = options.now ?? Date.now;
    this.maxAgeMs = Math.min(options.dataKeyMaxAgeMs ?? DATA_KEY_MAX_AGE_MS, DATA_KEY_MAX_AGE_MS);
    this.maxUses = options.dataKeyMaxUses ?? 1000;
    this.opening = new BoundedMap(options.maxOpenKeys ?? 100);
  }

  async seal(token: CachedToken, context: SealContext): Promise<Uint8Array> {
    let key: DataKey;
    try {
      key = await this.sealingKeyFor(context.providerId);
    } catch (error) {
      throw new SealingUnavailableError('seal', error);
    }
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.plaintext, iv);
    cipher.setAAD(additionalData(token, context));
    const plaintext = Buffer.from(JSON.stringify({ t: token.accessToken, s: token.scope }), 'utf8');
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(key.wrapped.length);
    return Buffer.concat([Buffer.from([FORMAT]), length, key.wrapped, iv, cipher.getAuthTag(), ciphertext]);
  }

  async open(
    sealed: Uint8Array,
    times: Pick<CachedToken, 'issuedAt' | 'expiresAt'>,
    context: SealContext,
  ): Promise<CachedToken> {
    const bytes = Buffer.from(sealed);
    if (bytes.length < 3 || bytes[0] !== FORMAT) throw new SealError('not a sealed token of a known format');
    const wrappedLength = bytes.readUInt16BE(1);
    const ivAt = 3 + wrappedLength;
    if (bytes.length < ivAt + IV_BYTES + TAG_BYTES) throw new SealError('a sealed token cut short');
    const wrapped = bytes.subarray(3, ivAt);
    // Nothing to ask the key service about: an empty wrapped key is planted, not sealed.
    if (wrapped.length === 0) throw new SealError('a sealed token without a wrapped key');
    const dataKey = await this.openingKey(wrapped, context.providerId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', dataKey, bytes.subarray(ivAt, ivAt + IV_BYTES));
      decipher.setAAD(additionalData(times, context));
      decipher.setAuthTag(bytes.subarray(ivAt + IV_BYTES, ivAt + IV_BYTES + TAG_BYTES));
      const plaintext = Buffer.concat([
        decipher.update(bytes.subarray(ivAt + IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]);
      const { t, s } = JSON.parse(plaintext.toString('utf8')) as { t: string; s?: string };
      return {
        accessToken: t,
        issuedAt: times.issuedAt,
        expiresAt: times.expiresAt,
        ...(s === undefined ? {} : { scope: s }),
      };
    } catch {
      throw new SealError('the sealed token does not open under its key, provider and lifetime');
    }
  }

  prepare(providerId: string): void {
    const current = this.sealing.get(providerId);
    if ((current && !this.spent(current, 1)) || this.successors.has(providerId)) return;
    // Taken up by the next seal as a successor is (see sealingKeyFor).
    this.successors.set(providerId, this.generate(providerId));
  }

  private sealingKeyFor(providerId: string): Promise<DataKey> {
    let current = this.sealing.get(providerId);
    if (!current || this.spent(current, 1)) {
      // The successor asked for ahead, if there is one (a failed one was dropped), else a key asked now.
      current = this.successors.get(providerId) ?? this.generate(providerId);
      this.successors.delete(providerId);
      if (this.spent(current, 1)) current = this.generate(providerId);
      this.sealing.set(providerId, current);
    } else if (this.spent(current, RENEW_AHEAD_SHARE) && !this.successors.has(providerId)) {
      this.successors.set(providerId, this.generate(providerId));
    }
    current.uses += 1;
    return current.key;
  }

  /** Whether a sealing key has used `share` of its age or of its uses. */
  private spent(key: SealingKey, share: number): boolean {
    return key.uses >= this.maxUses * share || this.now() - key.createdAtMs >= this.maxAgeMs * share;
  }

  /** A new sealing key from the key service; a failed call is forgotten, so the next seal asks again. */
  private generate(providerId: string): SealingKey {
    const key = this.dataKeys.generate(encryptionContext(providerId));
    const fresh: SealingKey = { key, createdAtMs: this.now(), uses: 0 };
    key.then(
      // Kept for opening only as long as it seals: its age counts from when KMS made it.
      (made) =>
        this.remember(openingId(providerId, made.wrapped), {
          plaintext: Promise.resolve(made.plaintext),
          createdAtMs: fresh.createdAtMs,
        }),
      () => {
        if (this.sealing.get(providerId) === fresh) this.sealing.delete(providerId);
        if (this.successors.get(providerId) === fresh) this.successors.delete(providerId);
      },
    );
    return fresh;
  }

  private openingKey(wrapped: Uint8Array, providerId: string): Promise<Uint8Array> {
    const id = openingId(providerId, wrapped);
    const known = this.opening.get(id);
    if (known && this.now() - known.createdAtMs < this.maxAgeMs) return known.plaintext;
    this.opening.delete(id);
    const unwrapping = this.dataKeys
      .unwrap(wrapped, encryptionContext(providerId))
      .catch((error: unknown) => {
        this.opening.delete(id);
        // A wrapped key of another provider, or one not made by this service's key, is not ours to open.
        if (rejectsTheBytes(error)) throw new SealError('the data key does not unwrap for this provider');
        throw new SealingUnavailableError('open', error);
      });
    this.remember(id, { plaintext: unwrapping, createdAtMs: this.now() });
    return unwrapping;
  }

  private remember(id: string, key: OpeningKey): void {
    // Keys past their age are not kept in memory until something asks for them.
    const nowMs = this.now();
    this.opening.prune((entry) => nowMs - entry.createdAtMs >= this.maxAgeMs);
    for (const keys of [this.sealing, this.successors]) {
      for (const [providerId, entry] of keys) {
        if (nowMs - entry.createdAtMs >= this.maxAgeMs) keys.delete(providerId);
      }
    }
    this.opening.set(id, key);
  }
}

/** An unwrapped data key is kept per provider: a wrapped key presented for another provider is unwrapped anew, and fails. */
const openingId = (providerId: string, wrapped: Uint8Array): string =>
  `${providerId}:${Buffer.from(wrapped).toString('base64')}`;

/** The KMS encryption context of a data key: the service, and the provider whose tokens it seals. */
const encryptionContext = (providerId: string): Record<string, string> => ({
  service: SERVICE,
  provider: providerId,
});

/** What the ciphertext is bound to besides the key: where it belongs and how long it lives. */
function additionalData(times: Pick<CachedToken, 'issuedAt' | 'expiresAt'>, context: SealContext): Buffer {
  return Buffer.from(
    JSON.stringify([
      SERVICE,
      FORMAT,
      context.key,
      context.providerId,
      times.issuedAt,
      times.expiresAt,
      context.generation,
    ]),
    'utf8',
  );
}
