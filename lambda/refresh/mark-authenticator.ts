import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { CounterKeySource } from '../budget/caller-counter-names';

/** What the key is derived for: no other use of the counter key can produce a mark's tag. */
const MARK_INFO = 'tvm in-use mark v1';
/** 128 bits: a forgery is a 2^-128 guess per try. */
const TAG_BYTES = 16;

/**
 * Authenticates an in-use mark as a whole: every field it holds (key, provider, scopes, audience, sealed
 * principal and its times) under a key derived from the counter key, which only the function reads. A
 * writer of the table can copy a mark, but not change one field of it nor build one: a copy names the
 * token it was written for, which the refresher renews once at most (its expiry must still be the table's).
 */
export class MarkAuthenticator {
  private derived?: { from: Uint8Array; key: Buffer };

  constructor(private readonly source: CounterKeySource) {}

  /** The tag of these fields, as stored beside them (base64url). */
  async tag(fields: readonly unknown[]): Promise<string> {
    const key = await this.key();
    return createHmac('sha256', key)
      .update(JSON.stringify(fields))
      .digest()
      .subarray(0, TAG_BYTES)
      .toString('base64url');
  }

  /** Whether `tag` is these fields' tag under the current key (a mark of a replaced key does not verify). */
  async verify(fields: readonly unknown[], tag: string): Promise<boolean> {
    const expected = Buffer.from(await this.tag(fields), 'base64url');
    const given = Buffer.from(tag, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async key(): Promise<Buffer> {
    const from = await this.source.key();
    if (this.derived?.from !== from) {
      this.derived = { from, key: Buffer.from(hkdfSync('sha256', from, Buffer.alloc(0), MARK_INFO, 32)) };
    }
    return this.derived.key;
  }
}
