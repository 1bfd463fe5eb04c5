import { createHash } from 'node:crypto';

export interface CacheKeyParts {
  readonly providerId: string;
  readonly tokenEndpoint: string;
  readonly clientId: string;
  readonly audience?: string;
  /** Sorted and de-duplicated by the request parser. */
  readonly scopes: readonly string[];
  /**
   * Which KMS key signs the provider's assertions (`signingKeyIdentity`), for KMS-keyed providers: a switch
   * to the next key never serves a token minted under the old one.
   */
  readonly signingKey?: string;
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
    // Only where there is one, so that the keys of every other provider stay what they were.
    ...(parts.signingKey === undefined ? [] : [parts.signingKey]),
  ]);
  return createHash('sha256').update(canonical).digest('base64url');
}
