import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { BoundedMap } from '../bounded-map';

/**
 * A key a caller vended, and what rebuilding its vend needs — never a secret or a token. Times are epoch
 * seconds. Written once per token per container by the vend that first served the token there.
 */
export interface InUseMark {
  readonly key: string;
  readonly providerId: string;
  /** As resolved for the vend (defaults and allow-lists applied). */
  readonly scopes: readonly string[];
  readonly audience?: string;
  /** The caller that marked the key: the renewal is charged to its budget. */
  readonly principal: string;
  /** The key counts as in use until then: the mark's time plus the token's lifetime. */
  readonly inUseUntil: number;
  /** From when the refresher renews the token (a period before the request path would). */
  readonly renewAt: number;
  /** The marked token's expiry: a table token with another one was renewed since, and is not renewed again. */
  readonly expiresAt: number;
}

/** Where marks are kept by the time they fall due, so a refresher run reads only the buckets due now. */
export interface InUseIndex {
  mark(mark: InUseMark): Promise<void>;
  /** Marks with `renewAt` in (`fromSeconds`, `toSeconds`], the latest per key. */
  due(fromSeconds: number, toSeconds: number): Promise<InUseMark[]>;
}

/** Each bucket is split over this many items, so one bucket of a large fleet stays far below 400 KB. */
export const INDEX_SHARDS = 8;

/** The start of the bucket a time falls in (epoch seconds). */
export const bucketOf = (seconds: number, periodSeconds: number): number =>
  Math.floor(seconds / periodSeconds) * periodSeconds;

/** The bucket starts covering (from, to]. */
export function bucketsBetween(fromSeconds: number, toSeconds: number, periodSeconds: number): number[] {
  const buckets: number[] = [];
  for (let bucket = bucketOf(fromSeconds, periodSeconds); bucket <= toSeconds; bucket += periodSeconds) {
    buckets.push(bucket);
  }
  return buckets;
}

export const shardOf = (key: string): number =>
  createHash('sha256').update(key).digest().readUInt8(0) % INDEX_SHARDS;

const text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));
const seconds = z.number().check(z.minimum(0), z.maximum(1e11));
/** The stored form: short names, as one bucket item holds many of them. */
const StoredMark = z.strictObject({
  k: text(512),
  p: text(128),
  s: z.array(text(1024)).check(z.maxLength(50)),
  a: z.optional(text(2048)),
  c: text(2048),
  u: seconds,
  r: seconds,
  e: seconds,
});

export function encodeMark(mark: InUseMark): string {
  return JSON.stringify({
    k: mark.key,
    p: mark.providerId,
    s: mark.scopes,
    ...(mark.audience === undefined ? {} : { a: mark.audience }),
    c: mark.principal,
    u: mark.inUseUntil,
    r: mark.renewAt,
    e: mark.expiresAt,
  });
}

/** A stored mark, or undefined for anything this service would not have written. */
export function decodeMark(stored: string): InUseMark | undefined {
  let json: unknown;
  try {
    json = JSON.parse(stored);
  } catch {
    return undefined;
  }
  const parsed = StoredMark.safeParse(json);
  if (!parsed.success) return undefined;
  const { k, p, s, a, c, u, r, e } = parsed.data;
  return {
    key: k,
    providerId: p,
    scopes: s,
    ...(a === undefined ? {} : { audience: a }),
    principal: c,
    inUseUntil: u,
    renewAt: r,
    expiresAt: e,
  };
}

/** Of several marks, those in (from, to], one per key: the latest marker's (it pays for the renewal). */
export function latestPerKey(
  marks: Iterable<InUseMark>,
  fromSeconds: number,
  toSeconds: number,
): InUseMark[] {
  const latest = new Map<string, InUseMark>();
  for (const mark of marks) {
    if (mark.renewAt <= fromSeconds || mark.renewAt > toSeconds) continue;
    const known = latest.get(mark.key);
    if (!known || mark.inUseUntil > known.inUseUntil) latest.set(mark.key, mark);
  }
  return [...latest.values()];
}

/** The index of one process: for a service without a table (the local tier's counterpart). */
export class InProcessInUseIndex implements InUseIndex {
  private readonly marks: BoundedMap<string, InUseMark>;

  constructor(options: { readonly maxEntries?: number } = {}) {
    this.marks = new BoundedMap(options.maxEntries ?? 10_000);
  }

  async mark(mark: InUseMark): Promise<void> {
    this.marks.set(`${mark.key}#${mark.principal}#${mark.expiresAt}`, mark);
  }

  async due(fromSeconds: number, toSeconds: number): Promise<InUseMark[]> {
    return latestPerKey(
      [...this.marks].map(([, mark]) => mark),
      fromSeconds,
      toSeconds,
    );
  }
}

/** A mark not written because the container is leaving the table alone (already logged as such). */
export class IndexBypassed extends Error {
  override readonly name = 'IndexBypassed';
}

/** What {@link TableGuardedIndex} asks before using the table, and tells when a call failed. */
export interface TableWindow {
  tableBypassed(): boolean;
  failed(operation: string, error: unknown): void;
}

/**
 * The index on the table, left alone while the container leaves the table alone (as the tier and the
 * budget ledger do): a mark then is skipped (the key is renewed on the request path), a run reads nothing.
 */
export class TableGuardedIndex implements InUseIndex {
  constructor(
    private readonly table: InUseIndex,
    private readonly window: TableWindow,
  ) {}

  async mark(mark: InUseMark): Promise<void> {
    if (this.window.tableBypassed()) throw new IndexBypassed('the table is bypassed');
    try {
      await this.table.mark(mark);
    } catch (error) {
      this.window.failed('mark', error);
      throw error;
    }
  }

  async due(fromSeconds: number, toSeconds: number): Promise<InUseMark[]> {
    if (this.window.tableBypassed()) return [];
    try {
      return await this.table.due(fromSeconds, toSeconds);
    } catch (error) {
      this.window.failed('due', error);
      return [];
    }
  }
}
