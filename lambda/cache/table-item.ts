import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { TOKEN_ITEM } from '../contracts/token-table';
import { ERROR_STATUS, type ErrorCode } from '../errors';

export type RawItem = Record<string, AttributeValue>;

/** A key's item as read from the table, every attribute checked for its type and shape. */
export interface ParsedItem {
  readonly sealed?: Uint8Array;
  readonly provider?: string;
  readonly issuedAt?: number;
  /** The token's expiry: `tokenExpiresAt` where written (several regions), else the TTL attribute. */
  readonly expiresAt?: number;
  /** The TTL attribute as stored: when DynamoDB may delete the item. */
  readonly ttlSeconds?: number;
  readonly version?: string;
  readonly generation: number;
  readonly floor: number;
  readonly owner?: string;
  readonly leaseUntilMs?: number;
  readonly failures: number;
  readonly retryAtMs?: number;
  readonly lastError?: ErrorCode;
  readonly failedAtMs?: number;
  readonly evictedBy?: string;
  /** An evict under way, and until when it stands (see the evict rule). */
  readonly evictClaim?: string;
  readonly evictClaimUntilMs?: number;
  readonly sealFailedAtMs?: number;
  /** No other region's token issued at or before it is served in this item's region (see the tier). */
  readonly issuedFloor?: number;
  /** The item's revision exactly as stored: the next write's condition names it. */
  readonly revision?: AttributeValue;
}

/** What a read found: an item, or one with attributes no writer of this service leaves (`bad` names them). */
export type ItemReading =
  | { readonly kind: 'item'; readonly item: ParsedItem }
  | {
      readonly kind: 'corrupt';
      readonly bad: string[];
      /** What did read by type, the bad attributes left out: never served, only kept safe by a rewrite. */
      readonly remains: ParsedItem;
    };

/** A key's item as the tier read it: sound, corrupt (with what did read), or absent (neither). */
export type Reading = {
  readonly item?: ParsedItem;
  readonly corrupt?: readonly string[];
  /** A corrupt item's attributes that did read: only what its rewrite must not lose (TTL, issued floor). */
  readonly remains?: ParsedItem;
};

const isErrorCode = (value: string): value is ErrorCode => Object.hasOwn(ERROR_STATUS, value);

/**
 * Reads the item's attributes as this service writes them and nothing else: a number is an `N` that parses
 * to a finite number, a string an `S`, the token's seal a `B`. Anything else makes the item corrupt, never a
 * guess: a corrupt item is overwritten by the next fetch.
 */
export function readItem(raw: RawItem): ItemReading {
  const bad: string[] = [];
  const number = (name: string, { whole = false, min = 0 } = {}): number | undefined => {
    const value = raw[name];
    if (value === undefined) return undefined;
    const parsed = value.N === undefined ? Number.NaN : Number(value.N);
    if (!Number.isFinite(parsed) || parsed < min || (whole && !Number.isInteger(parsed))) {
      bad.push(name);
      return undefined;
    }
    return parsed;
  };
  const string = (name: string): string | undefined => {
    const value = raw[name];
    if (value === undefined) return undefined;
    if (typeof value.S !== 'string' || value.S.length === 0 || value.S.length > 256) {
      bad.push(name);
      return undefined;
    }
    return value.S;
  };
  const sealedValue = raw[TOKEN_ITEM.sealed];
  let sealed: Uint8Array | undefined;
  if (sealedValue !== undefined) {
    if (sealedValue.B instanceof Uint8Array && sealedValue.B.length > 0) sealed = sealedValue.B;
    else bad.push(TOKEN_ITEM.sealed);
  }
  const lastErrorText = string(TOKEN_ITEM.lastError);
  if (lastErrorText !== undefined && !isErrorCode(lastErrorText)) bad.push(TOKEN_ITEM.lastError);
  const ttlSeconds = number(TOKEN_ITEM.expiresAt);
  const revision = raw[TOKEN_ITEM.revision];
  if (revision !== undefined && typeof revision.S !== 'string') bad.push(TOKEN_ITEM.revision);
  const item: ParsedItem = {
    sealed,
    provider: string(TOKEN_ITEM.provider),
    issuedAt: number(TOKEN_ITEM.issuedAt),
    expiresAt: number(TOKEN_ITEM.tokenExpiresAt) ?? ttlSeconds,
    ttlSeconds,
    version: string(TOKEN_ITEM.version),
    generation: number(TOKEN_ITEM.generation, { whole: true }) ?? 0,
    floor: number(TOKEN_ITEM.floor, { whole: true }) ?? 0,
    owner: string(TOKEN_ITEM.owner),
    leaseUntilMs: number(TOKEN_ITEM.leaseUntil),
    failures: number(TOKEN_ITEM.failures, { whole: true }) ?? 0,
    retryAtMs: number(TOKEN_ITEM.retryAt),
    lastError: lastErrorText !== undefined && isErrorCode(lastErrorText) ? lastErrorText : undefined,
    failedAtMs: number(TOKEN_ITEM.failedAt),
    evictedBy: string(TOKEN_ITEM.evictedBy),
    evictClaim: string(TOKEN_ITEM.evictClaim),
    evictClaimUntilMs: number(TOKEN_ITEM.evictClaimUntil),
    sealFailedAtMs: number(TOKEN_ITEM.sealFailedAt),
    issuedFloor: number(TOKEN_ITEM.issuedFloor),
    revision,
  };
  return bad.length > 0 ? { kind: 'corrupt', bad, remains: item } : { kind: 'item', item };
}

/** The attributes a token occupies: removed together from a corrupt item or on an evict. */
export const TOKEN_ATTRIBUTES = [
  TOKEN_ITEM.sealed,
  TOKEN_ITEM.clearToken,
  TOKEN_ITEM.clearScope,
  TOKEN_ITEM.issuedAt,
  TOKEN_ITEM.version,
  TOKEN_ITEM.provider,
] as const;

/** The attributes of a lease and its failures: removed together when a token is written under the lease. */
export const LEASE_ATTRIBUTES = [
  TOKEN_ITEM.owner,
  TOKEN_ITEM.leaseUntil,
  TOKEN_ITEM.failures,
  TOKEN_ITEM.retryAt,
  TOKEN_ITEM.lastError,
  TOKEN_ITEM.failedAt,
  TOKEN_ITEM.sealFailedAt,
] as const;
