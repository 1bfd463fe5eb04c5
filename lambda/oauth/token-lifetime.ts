import { decodeJwt } from 'jose';

/** Longer than any provider issues; a larger `expires_in` is nonsense, not a gift. */
const MAX_LIFETIME_SECONDS = 366 * 86_400;

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
 * (RFC 6749 §5.1; Bokbasen asks for this). Undefined when neither gives a sane answer.
 */
export function tokenExpiry(
  accessToken: string,
  expiresIn: unknown,
  requestedAtSeconds: number,
): number | undefined {
  const candidates: number[] = [];
  if (expiresIn !== undefined) {
    if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) return undefined;
    if (expiresIn > MAX_LIFETIME_SECONDS) return undefined;
    candidates.push(requestedAtSeconds + Math.floor(expiresIn));
  }
  const exp = jwtExpiry(accessToken);
  if (exp !== undefined) candidates.push(exp);
  if (candidates.length === 0) return undefined;
  const expiresAt = Math.min(...candidates);
  return expiresAt > requestedAtSeconds ? expiresAt : undefined;
}
