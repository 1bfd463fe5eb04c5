import { TOKEN_ITEM } from '../contracts/token-table';
import type { CachedToken } from '../model';
import { LEASE_ATTRIBUTES, type Reading } from './table-item';

/**
 * The write rule, written once: what a token write keeps of the key's item as read, and what a rewrite of a
 * corrupt item keeps. The DynamoDB tier seals the token and writes what these functions say under the
 * item's revision as read; they decide nothing else.
 */

/**
 * With regions, how a rewrite of a corrupt item treats its TTL and issued floor: the TTL never moves earlier
 * (a floor that survives needs it); a bad TTL tells nothing of how long the floor is needed, so the floor
 * goes with it (reads of the corrupt item already ignored it).
 */
export function corruptFloorAndTtl(reading: Reading): { ttlSeconds?: number; dropFloor: boolean } {
  const badTtl = reading.corrupt?.includes(TOKEN_ITEM.expiresAt) ?? false;
  const ttlSeconds = reading.remains?.ttlSeconds;
  return {
    ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
    dropFloor: badTtl && reading.remains?.issuedFloor !== undefined,
  };
}

/** What a token write sets besides the token itself, and what it removes. */
export interface TokenWriteKeeps {
  /** The token's place on the key: past every token written and every evict's floor. */
  readonly generation: number;
  /** The item's TTL: the token's expiry, never earlier than the item kept it with regions. */
  readonly ttlSeconds: number;
  /** With regions, the token's own expiry (the TTL may then be later). */
  readonly tokenExpiresAt?: number;
  /** Attributes removed: the clear-text token of old, the evictor's payment, a seal failure, what was corrupt, and the lease and failures when the write ends the lease. */
  readonly remove: readonly string[];
}

/** The attributes a token write sets: never also removed. */
const WRITTEN: ReadonlySet<string> = new Set([
  TOKEN_ITEM.sealed,
  TOKEN_ITEM.issuedAt,
  TOKEN_ITEM.expiresAt,
  TOKEN_ITEM.version,
  TOKEN_ITEM.provider,
  TOKEN_ITEM.generation,
  TOKEN_ITEM.revision,
  TOKEN_ITEM.tokenExpiresAt,
]);

/**
 * What writing `token` on the key's item as read keeps: the next generation (past the evict's floor, so the
 * token opens), the issued floor an evict left (a token write never removes it), and, with regions, a TTL
 * that never moves earlier (an issued floor on the item needs it past the token's expiry). Items of before
 * sealing lose their clear-text token; `end lease` also clears the lease and its failures.
 */
export function whatTokenWriteKeeps(
  reading: Reading,
  token: CachedToken,
  options: { readonly regional: boolean; readonly lease: 'end lease' | 'keep lease' },
): TokenWriteKeeps {
  const item = reading.item;
  const generation = Math.max(item?.generation ?? 0, item?.floor ?? 0) + 1;
  const regionalCorrupt = reading.corrupt && options.regional ? corruptFloorAndTtl(reading) : undefined;
  const keptTtl = item?.ttlSeconds ?? regionalCorrupt?.ttlSeconds ?? 0;
  const remove = new Set<string>([
    TOKEN_ITEM.clearToken,
    TOKEN_ITEM.clearScope,
    TOKEN_ITEM.evictedBy,
    TOKEN_ITEM.sealFailedAt,
    ...(reading.corrupt ?? []),
    ...(regionalCorrupt?.dropFloor ? [TOKEN_ITEM.issuedFloor] : []),
    ...(options.lease === 'end lease' ? LEASE_ATTRIBUTES : []),
  ]);
  return {
    generation,
    ttlSeconds: options.regional ? Math.max(token.expiresAt, keptTtl) : token.expiresAt,
    ...(options.regional ? { tokenExpiresAt: token.expiresAt } : {}),
    remove: [...remove].filter((name) => !WRITTEN.has(name)),
  };
}
