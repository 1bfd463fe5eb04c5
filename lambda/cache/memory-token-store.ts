import { BoundedMap } from '../bounded-map';
import { type Clock, systemClock } from '../clock';
import type { CachedToken, TokenStore } from './token-store';

export interface MemoryTokenStoreOptions {
  /** @default 1000 */
  readonly maxEntries?: number;
  /**
   * How long this container trusts its own copy before asking the table again. An eviction made through
   * another container reaches this one within this time.
   * @default 60
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
    this.maxAgeMs = (options.maxAgeSeconds ?? 60) * 1000;
    this.clock = options.clock ?? systemClock;
  }

  async get(key: string): Promise<CachedToken | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const nowMs = this.clock.now();
    if (nowMs - entry.storedAtMs >= this.maxAgeMs || entry.token.expiresAt * 1000 <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.token;
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
