import { BoundedMap } from '../bounded-map';
import { type Clock, systemClock } from '../clock';
import type { CachedToken, TokenStore } from './token-store';

/**
 * How long a container trusts its memory copy of a token before it reads the table again: the longest an
 * evict taken elsewhere leaves the evicted token served here. One table read (a consistent GetItem, no KMS
 * call: the data key is cached) per key and container every 10 s instead of every 60 s.
 */
export const MEMORY_TRUST_SECONDS = 10;

export interface MemoryTokenStoreOptions {
  /** @default 1000 */
  readonly maxEntries?: number;
  /**
   * How long this container trusts its own copy before asking the table again. An eviction made through
   * another container reaches this one within this time.
   * @default MEMORY_TRUST_SECONDS
   */
  readonly maxAgeSeconds?: number;
  /** @default the system clock */
  readonly clock?: Clock;
}

interface Entry {
  readonly token: CachedToken;
  readonly storedAtMs: number;
}

/** A bounded per-container cache: least recently used entries go first. */
export class MemoryTokenStore implements TokenStore {
  private readonly entries: BoundedMap<string, Entry>;
  private readonly maxAgeMs: number;
  private readonly clock: Clock;

  constructor(options: MemoryTokenStoreOptions = {}) {
    this.entries = new BoundedMap(options.maxEntries ?? 1000);
    this.maxAgeMs = (options.maxAgeSeconds ?? MEMORY_TRUST_SECONDS) * 1000;
    this.clock = options.clock ?? systemClock;
  }

  async get(key: string): Promise<CachedToken | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const nowMs = this.clock.now();
    if (entry.token.expiresAt * 1000 <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    // Past its trust the copy stays (until it expires or is replaced) for lastKnown, but is not served as is.
    return nowMs - entry.storedAtMs >= this.maxAgeMs ? undefined : entry.token;
  }

  async lastKnown(key: string): Promise<CachedToken | undefined> {
    const entry = this.entries.get(key);
    return entry && entry.token.expiresAt * 1000 > this.clock.now() ? entry.token : undefined;
  }

  async put(key: string, token: CachedToken): Promise<void> {
    this.entries.set(key, { token, storedAtMs: this.clock.now() });
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
