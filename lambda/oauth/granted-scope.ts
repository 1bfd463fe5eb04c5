import { decodeJwt } from 'jose';
import type { CachedToken } from '../cache/token-store';
import type { ResolvedSelectors } from '../model';

/** The claims of a JWT access token, or undefined when it is not a JWT. The signature is not ours to verify. */
function claimsOf(accessToken: string): Record<string, unknown> | undefined {
  if (accessToken.split('.').length !== 3) return undefined;
  try {
    return decodeJwt(accessToken);
  } catch {
    return undefined;
  }
}

const asList = (value: unknown): string[] | undefined => {
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
  return undefined;
};

/**
 * What the provider granted beyond what was asked, as a reason, or undefined when it granted no more. The
 * granted scope is the response's `scope`, else the JWT's `scope` or `scp`; the granted audience the JWT's
 * `aud`. Checked only where something was asked: a provider's own default is not the caller's to bound.
 */
export function grantedBeyondRequest(
  token: CachedToken,
  asked: ResolvedSelectors,
  harmless: readonly string[] = [],
): string | undefined {
  const claims = claimsOf(token.accessToken);
  if (asked.scopes.length > 0) {
    const granted = asList(token.scope) ?? asList(claims?.scope) ?? asList(claims?.scp) ?? [];
    const extra = granted.filter((scope) => !asked.scopes.includes(scope) && !harmless.includes(scope));
    if (extra.length > 0) return `scope(s) not asked for: ${extra.slice(0, 10).join(' ')}`;
  }
  if (asked.audience !== undefined) {
    const audiences = asList(claims?.aud);
    if (audiences && !audiences.includes(asked.audience)) return 'an audience other than the one asked for';
  }
  return undefined;
}
