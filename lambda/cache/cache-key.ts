import { createHash } from 'node:crypto';

export interface CacheKeyParts {
  readonly providerId: string;
  readonly tokenEndpoint: string;
  readonly clientId: string;
  readonly audience?: string;
  /** Sorted and de-duplicated by the request parser. */
  readonly scopes: readonly string[];
}

/**
 * Everything that changes the token a provider issues is in the key, so a token is never served for another
 * scope set, audience or client (the Duende advisory): a rotated client_id never gets the old token.
 * Versioned so a change of layout never reads old items.
 */
export function cacheKey(parts: CacheKeyParts): string {
  const canonical = JSON.stringify([
    'v1',
    parts.providerId,
    parts.tokenEndpoint,
    parts.clientId,
    parts.audience ?? null,
    [...new Set(parts.scopes)].sort(),
  ]);
  return createHash('sha256').update(canonical).digest('base64url');
}
