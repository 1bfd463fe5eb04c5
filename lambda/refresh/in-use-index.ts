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
  /** Authenticates every field above as a whole ({@link MarkAuthenticator}); checked before any renewal. */
  readonly tag: string;
}

/** A mark's fields in the one order its tag covers them (the tag itself aside). */
export const markFields = (mark: Omit<InUseMark, 'tag'>): unknown[] => [
  mark.key,
  mark.providerId,
  mark.scopes,
  mark.audience ?? null,
  mark.principal,
  mark.inUseUntil,
  mark.renewAt,
  mark.expiresAt,
];

/** The stored marks of a window, as stored: not yet verified, several per key. */
export interface DueMarks {
  readonly marks: readonly InUseMark[];
  /** Stored entries that are no mark at all (planted or damaged): counted with the marks that do not verify. */
  readonly malformed: number;
}

/** Where marks are kept by the time they fall due, so a refresher run reads only the buckets due now. */
export interface InUseIndex {
  mark(mark: InUseMark): Promise<void>;
  /** Marks with `renewAt` in (`fromSeconds`, `toSeconds`]. */
  due(fromSeconds: number, toSeconds: number): Promise<DueMarks>;
  /** Up to when (epoch s of `renewAt`) earlier runs handed every mark to the renewal queue; undefined: never. */
  plannedUntil(): Promise<number | undefined>;
  /** Records that every mark up to `untilSeconds` was handed over (only ever raises the watermark). */
  planned(untilSeconds: number): Promise<void>;
}

/** Each bucket is split over this many items, each of which spills into further items when it fills. */
export const INDEX_SHARDS = 32;
/**
 * Marks one index item holds before its writers go on to the next item of its shard (~25 KB at the marks'
 * ~250 bytes): an item never comes near DynamoDB's 400 KB however many keys fall due at once, and a mark's
 * `UpdateItem`, billed by the item's size, costs at most 25 write units (about 12 on average).
 */
export const MARKS_PER_ITEM = 100;
/** Items of one shard of one bucket at most: 32 × 64 × 100 ≈ 200k marks in one period. */
export const MAX_INDEX_LEVELS = 64;

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
  t: z.string().check(z.minLength(16), z.maxLength(64)),
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
    t: mark.tag,
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
  const { k, p, s, a, c, u, r, e, t } = parsed.data;
  return {
    key: k,
    providerId: p,
    scopes: s,
    ...(a === undefined ? {} : { audience: a }),
    principal: c,
    inUseUntil: u,
    renewAt: r,
    expiresAt: e,
    tag: t,
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
  private watermark?: number;

  constructor(options: { readonly maxEntries?: number } = {}) {
    this.marks = new BoundedMap(options.maxEntries ?? 10_000);
  }

  async mark(mark: InUseMark): Promise<void> {
    this.marks.set(`${mark.key}#${mark.principal}#${mark.expiresAt}`, mark);
  }

  async due(fromSeconds: number, toSeconds: number): Promise<DueMarks> {
    const marks = [...this.marks]
      .map(([, mark]) => mark)
      .filter((mark) => mark.renewAt > fromSeconds && mark.renewAt <= toSeconds);
    return { marks, malformed: 0 };
  }

  async plannedUntil(): Promise<number | undefined> {
    return this.watermark;
  }

  async planned(untilSeconds: number): Promise<void> {
    this.watermark = Math.max(this.watermark ?? untilSeconds, untilSeconds);
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
 * budget ledger do): a mark then is skipped (the key is renewed on the request path), and a run's read
 * fails ({@link IndexBypassed}): the refresher counts it as failed, never as nothing due.
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

  due(fromSeconds: number, toSeconds: number): Promise<DueMarks> {
    return this.guarded('due', () => this.table.due(fromSeconds, toSeconds));
  }

  plannedUntil(): Promise<number | undefined> {
    return this.guarded('due', () => this.table.plannedUntil());
  }

  planned(untilSeconds: number): Promise<void> {
    return this.guarded('due', () => this.table.planned(untilSeconds));
  }

  private async guarded<T>(operation: string, call: () => Promise<T>): Promise<T> {
    if (this.window.tableBypassed()) throw new IndexBypassed('the table is bypassed');
    try {
      return await call();
    } catch (error) {
      this.window.failed(operation, error);
      throw error;
    }
  }
}
