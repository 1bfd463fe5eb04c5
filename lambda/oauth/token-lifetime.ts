import { decodeJwt } from 'jose';

/** Longer than any provider issues; a larger `expires_in` or JWT `exp` is nonsense, not a gift. */
export const MAX_LIFETIME_SECONDS = 366 * 86_400;

/**
 * Shorter than this, a token would expire in the hands of whoever got it: the provider's fault, not the
 * caller's. Such a token, or one that arrives with less than {@link MIN_SECONDS_LEFT_ON_ARRIVAL} left, is
 * refused as `upstream_invalid_response`.
 */
export const MIN_LIFETIME_SECONDS = 5;
export const MIN_SECONDS_LEFT_ON_ARRIVAL = 2;

/** The JWT's `exp`, when the access token is a JWT that has one. The signature is not ours to verify. */
function jwtExpiry(accessToken: string): number | undefined {
  if (accessToken.split('.').length !== 3) return undefined;
  try {
    const { exp } = decodeJwt(accessToken);
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When a token stops being valid, in epoch seconds: `expires_in` counted from when the request was sent
 * (so network time shortens, never lengthens, the lifetime), else the JWT's `exp`; where both, the earlier
 * (RFC 6749 §5.1; Bokbasen asks for this). Either beyond {@link MAX_LIFETIME_SECONDS} is nonsense and gives
 * undefined, as does neither giving a sane answer. `ceilingSeconds` (a provider's `maxTokenLifetimeSeconds`)
 * then shortens a long lifetime to itself.
 */
export function tokenExpiry(
  accessToken: string,
  expiresIn: unknown,
  requestedAtSeconds: number,
  ceilingSeconds: number = MAX_LIFETIME_SECONDS,
): number | undefined {
  const candidates: number[] = [];
  if (expiresIn !== undefined) {
    if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) return undefined;
    if (expiresIn > MAX_LIFETIME_SECONDS) return undefined;
    candidates.push(requestedAtSeconds + Math.floor(expiresIn));
  }
  const exp = jwtExpiry(accessToken);
  if (exp !== undefined) {
    if (exp - requestedAtSeconds > MAX_LIFETIME_SECONDS) return undefined;
    candidates.push(exp);
  }
  if (candidates.length === 0) return undefined;
  const expiresAt = Math.min(...candidates);
  if (expiresAt <= requestedAtSeconds) return undefined;
  return Math.min(expiresAt, requestedAtSeconds + Math.min(ceilingSeconds, MAX_LIFETIME_SECONDS));
}
