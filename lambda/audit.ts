import { decodeJwt } from 'jose';
import { tokenFingerprint } from '../packages/client/src/wire-contract';
import { BoundedMap } from './bounded-map';
import type { ResolvedSelectors } from './model';

/**
 * What the audit line says of each token lately handed out, by token: a token is served many times (every
 * hit), and its fingerprint (a SHA-256) and `jti` (a JWT decode) never change. Tokens are in this
 * container's memory anyway.
 */
const tokenFields = new BoundedMap<string, { token_fingerprint: string; token_jti?: string }>(256);

/**
 * What the audit trail says of one vend, beside who called: what was granted (audience, scopes), the
 * `min_ttl` asked for, and which token was handed out — by fingerprint (a SHA-256 prefix: a token seen
 * elsewhere can be traced to who received it, and the line holds no token) and by its `jti` when it is a JWT
 * that has one.
 */
export function auditFields(
  accessToken: string,
  selectors: ResolvedSelectors | undefined,
  minTtlSeconds: number | undefined,
): Record<string, unknown> {
  return {
    ...(selectors?.audience === undefined ? {} : { audience: selectors.audience }),
    ...(selectors ? { scopes: selectors.scopes.join(' ') } : {}),
    ...(minTtlSeconds === undefined ? {} : { min_ttl: minTtlSeconds }),
    ...fieldsOf(accessToken),
  };
}

function fieldsOf(accessToken: string): { token_fingerprint: string; token_jti?: string } {
  const known = tokenFields.get(accessToken);
  if (known) return known;
  const fields = { token_fingerprint: tokenFingerprint(accessToken), ...jtiOf(accessToken) };
  tokenFields.set(accessToken, fields);
  return fields;
}

function jtiOf(accessToken: string): { token_jti?: string } {
  if (accessToken.split('.').length !== 3) return {};
  try {
    const { jti } = decodeJwt(accessToken);
    // A jti is an identifier, not a secret; bounded so a provider cannot fill the log line.
    return typeof jti === 'string' ? { token_jti: jti.slice(0, 128) } : {};
  } catch {
    return {};
  }
}
