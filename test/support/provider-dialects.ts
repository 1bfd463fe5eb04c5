import { type KeyObject, randomUUID, X509Certificate } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify, SignJWT } from 'jose';
import type { Behaviour, RecordedRequest, Reply } from '../../local/loopback/fake-provider';

/**
 * Token endpoints that behave as each provider's own document says (summarised per provider in docs/providers/), including what they
 * refuse. Each returns a fake-provider behaviour; the credentials and grants are the test's.
 */

const oauthError = (status: number, error: string, description?: string): Reply => ({
  status,
  body: { error, ...(description ? { error_description: description } : {}) },
});

function basicCredentials(request: RecordedRequest): { id: string; secret: string } | undefined {
  const header = request.headers.authorization;
  if (!header?.startsWith('Basic ')) return undefined;
  const [id = '', secret = ''] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
  return { id: decodeURIComponent(id), secret: decodeURIComponent(secret) };
}

/** Client authentication as RFC 6749 §2.3.1 allows it: Basic header or body parameters. */
function clientOf(
  request: RecordedRequest,
): { id: string; secret: string; method: 'basic' | 'post' } | undefined {
  const basic = basicCredentials(request);
  if (basic) return { ...basic, method: 'basic' };
  const { client_id: id, client_secret: secret } = request.params;
  return id && secret ? { id, secret, method: 'post' } : undefined;
}

/** A JWT-shaped access token whose `exp` the server chooses (unsigned: callers never verify it here). */
export function jwtAccessToken(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ jti: randomUUID(), ...claims })}.c2lnbmF0dXJl`;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** BCC (Auth0): JSON body only, client id and secret in it, `audience`, `#` in scope names, 86400 s. */
export function bccDialect(
  client: { id: string; secret: string },
  audience: string,
  scopes: readonly string[],
): Behaviour {
  return (request) => {
    if (!request.contentType.startsWith('application/json'))
      return oauthError(415, 'invalid_request', 'JSON body only');
    const { params } = request;
    if (params.grant_type !== 'client_credentials') return oauthError(400, 'unsupported_grant_type');
    if (params.client_id !== client.id || params.client_secret !== client.secret) {
      return oauthError(401, 'access_denied', 'Unauthorized');
    }
    if (params.audience !== audience)
      return oauthError(403, 'access_denied', 'Service not enabled within domain');
    const requested = (params.scope ?? '').split(' ').filter(Boolean);
    if (requested.some((scope) => !scopes.includes(scope)))
      return oauthError(403, 'access_denied', 'scope not allowed');
    return {
      status: 200,
      body: {
        access_token: jwtAccessToken({
          aud: audience,
          scope: requested.join(' '),
          exp: nowSeconds() + 86_400,
        }),
        scope: requested.join(' '),
        expires_in: 86_400,
        token_type: 'Bearer',
      },
    };
  };
}

/** Norsk Gjeldsinformasjon: form body, `audience` and `scope`, lower-case `bearer`, 3599 s, opaque tokens. */
export function norskGjeldDialect(client: { id: string; secret: string }, audience: string): Behaviour {
  return (request, index) => {
    if (!request.contentType.startsWith('application/x-www-form-urlencoded')) {
      return oauthError(400, 'invalid_request', 'form body expected');
    }
    const caller = clientOf(request);
    if (caller?.id !== client.id || caller.secret !== client.secret) return oauthError(401, 'invalid_client');
    if (request.params.grant_type !== 'client_credentials') return oauthError(400, 'unsupported_grant_type');
    if (request.params.audience !== audience) return oauthError(400, 'invalid_request', 'audience required');
    const scope = request.params.scope ?? '';
    if (!scope) return oauthError(400, 'invalid_scope');
    return {
      status: 200,
      body: {
        access_token: `C2EzneyuE2lEK8VBYZS7TxBUMF16Ns6gTuU5DybZbY.opaque-${index}`,
        expires_in: 3599,
        scope,
        token_type: 'bearer',
      },
    };
  };
}

/**
 * Bokbasen (Auth0): JSON or form; an `audience` URL per API; 401 for bad credentials and 403 for an audience
 * the client may not have (bare statuses); `expires_in` that varies through the day, and a JWT whose `exp`
 * may come earlier than it.
 */
export function bokbasenDialect(
  client: { id: string; secret: string },
  grantedAudiences: readonly string[],
  lifetime: () => { expiresIn: number; exp: number },
): Behaviour {
  return (request) => {
    const json = request.contentType.startsWith('application/json');
    const form = request.contentType.startsWith('application/x-www-form-urlencoded');
    if (!json && !form) return { status: 415, body: 'Unsupported Media Type' };
    const { params } = request;
    if (params.client_id !== client.id || params.client_secret !== client.secret)
      return { status: 401, body: 'Unauthorized' };
    if (!params.audience || !grantedAudiences.includes(params.audience))
      return { status: 403, body: 'Forbidden' };
    const { expiresIn, exp } = lifetime();
    return {
      status: 200,
      body: {
        access_token: jwtAccessToken({
          aud: params.audience,
          exp,
          gty: 'client-credentials',
          permissions: [],
        }),
        expires_in: expiresIn,
        token_type: 'Bearer',
      },
    };
  };
}

/**
 * Signaturgruppen (Duende IdentityServer): form body, scope `neb_api`; a client secret, or private_key_jwt
 * (RFC 7523) verified against the registered public keys: `aud` must be the token endpoint, `iss` = `sub` =
 * client_id, and a `jti` may be used once.
 */
export function signaturgruppenDialect(options: {
  readonly tokenEndpoint: () => string;
  readonly secretClients: Readonly<Record<string, string>>;
  readonly keyClients: Readonly<Record<string, JSONWebKeySet>>;
}): { readonly behaviour: Behaviour; readonly seenJtis: ReadonlySet<string> } {
  const seenJtis = new Set<string>();
  const behaviour = async (request: RecordedRequest): Promise<Reply> => {
    if (!request.contentType.startsWith('application/x-www-form-urlencoded'))
      return oauthError(400, 'invalid_request');
    const { params } = request;
    let clientId: string | undefined;
    if (params.client_assertion_type === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
      const jwks = options.keyClients[params.client_id ?? ''];
      if (!jwks || !params.client_assertion) return oauthError(400, 'invalid_client');
      try {
        const { payload } = await jwtVerify(params.client_assertion, createLocalJWKSet(jwks), {
          audience: options.tokenEndpoint(),
          issuer: params.client_id,
          subject: params.client_id,
          maxTokenAge: '5m',
          requiredClaims: ['jti', 'exp', 'iat'],
        });
        if (seenJtis.has(String(payload.jti))) return oauthError(400, 'invalid_client', 'jti replayed');
        seenJtis.add(String(payload.jti));
      } catch (error) {
        return oauthError(400, 'invalid_client', (error as Error).message);
      }
      clientId = params.client_id;
    } else {
      const caller = clientOf(request);
      if (!caller || options.secretClients[caller.id] !== caller.secret)
        return oauthError(400, 'invalid_client');
      clientId = caller.id;
    }
    if (params.scope !== 'neb_api') return oauthError(400, 'invalid_scope');
    const accessToken = await new SignJWT({ client_id: clientId, scope: ['neb_api'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('signaturgruppen-test-signing-key-32b!'));
    return {
      status: 200,
      body: { access_token: accessToken, token_type: 'Bearer', expires_in: 3600, scope: 'neb_api' },
    };
  };
  return { behaviour, seenJtis };
}

/**
 * GOPACS (Keycloak): form body only, client id and secret in it, no scope or audience; 300-second tokens
 * with Keycloak's extra fields.
 */
export function gopacsDialect(
  client: { id: string; secret: string },
  expiresIn: () => number = () => 300,
  clock: () => number = nowSeconds,
): Behaviour {
  return (request, index) => {
    if (!request.contentType.startsWith('application/x-www-form-urlencoded')) {
      return oauthError(400, 'invalid_request', 'Missing form parameter: grant_type');
    }
    const caller = clientOf(request);
    if (caller?.id !== client.id || caller.secret !== client.secret) {
      return oauthError(401, 'unauthorized_client', 'Invalid client or Invalid client credentials');
    }
    if (request.params.grant_type !== 'client_credentials') return oauthError(400, 'unsupported_grant_type');
    return {
      status: 200,
      body: {
        access_token: jwtAccessToken({ exp: clock() + expiresIn(), azp: client.id, n: index }),
        expires_in: expiresIn(),
        refresh_expires_in: 1800,
        refresh_token: `keycloak-refresh-token-${index}`,
        token_type: 'bearer',
        'not-before-policy': 0,
        session_state: 'a856fb91-eabc-460e-a54b-808c93acd29',
        scope: 'profile email',
      },
    };
  };
}

/**
 * Maskinporten (Digdir), from its documentation: `POST` form with `grant_type` jwt-bearer and `assertion`, no
 * client authentication. The assertion: RS256/384/512, `kid` of a registered key or `x5c` with the
 * business certificate; `aud` the issuer; `iss` the client id; `iat` within 10 s of the server's clock;
 * `exp - iat` ≤ 120; a `jti` used once; `scope` required; optional `resource`. Tokens last 120 s.
 */
export function maskinportenDialect(options: {
  readonly audience: string;
  /** Registered public keys by kid, and client id by key. */
  readonly keys: Readonly<Record<string, { readonly key: CryptoKey | KeyObject; readonly clientId: string }>>;
  /** Trusted business certificates (base64 DER) and the client each belongs to. */
  readonly certificates?: Readonly<Record<string, string>>;
  readonly scopes: readonly string[];
}): {
  readonly behaviour: Behaviour;
  readonly seenJtis: ReadonlySet<string>;
  readonly claims: Array<Record<string, unknown>>;
} {
  const seenJtis = new Set<string>();
  const claims: Array<Record<string, unknown>> = [];
  const behaviour = async (request: RecordedRequest): Promise<Reply> => {
    if (!request.contentType.startsWith('application/x-www-form-urlencoded'))
      return oauthError(400, 'invalid_request');
    const { params } = request;
    if (params.grant_type !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return oauthError(400, 'unsupported_grant_type');
    if (
      params.client_id ||
      params.client_secret ||
      params.client_assertion ||
      request.headers.authorization
    ) {
      return oauthError(400, 'invalid_request', 'no client authentication with the JWT grant');
    }
    if (!params.assertion) return oauthError(400, 'invalid_request', 'assertion missing');
    try {
      const header = decodeProtectedHeader(params.assertion);
      let key: CryptoKey | KeyObject;
      let clientId: string;
      if (header.kid !== undefined) {
        const registered = options.keys[header.kid];
        if (!registered) return oauthError(400, 'invalid_grant', 'unknown kid');
        ({ key, clientId } = registered);
      } else if (header.x5c?.[0] !== undefined) {
        const owner = options.certificates?.[header.x5c[0]];
        if (!owner) return oauthError(400, 'invalid_grant', 'certificate not trusted');
        key = new X509Certificate(Buffer.from(header.x5c[0], 'base64')).publicKey;
        clientId = owner;
      } else {
        return oauthError(400, 'invalid_grant', 'kid or x5c required');
      }
      const { payload } = await jwtVerify(params.assertion, key, {
        audience: options.audience,
        issuer: clientId,
        algorithms: ['RS256', 'RS384', 'RS512'],
        requiredClaims: ['jti', 'exp', 'iat', 'scope'],
      });
      const iat = Number(payload.iat);
      if (Math.abs(iat - nowSeconds()) > 10) return oauthError(400, 'invalid_grant', 'iat not within 10 s');
      if (Number(payload.exp) - iat > 120) return oauthError(400, 'invalid_grant', 'exp - iat over 120');
      if (seenJtis.has(String(payload.jti))) return oauthError(400, 'invalid_grant', 'jti reused');
      seenJtis.add(String(payload.jti));
      const scopes = String(payload.scope).split(' ');
      if (scopes.some((scope) => !options.scopes.includes(scope))) return oauthError(400, 'invalid_scope');
      claims.push(payload);
      return {
        status: 200,
        body: {
          access_token: jwtAccessToken({
            scope: payload.scope,
            client_id: clientId,
            exp: nowSeconds() + 120,
          }),
          token_type: 'Bearer',
          expires_in: 120,
          scope: payload.scope,
        },
      };
    } catch (error) {
      return oauthError(400, 'invalid_grant', (error as Error).message);
    }
  };
  return { behaviour, seenJtis, claims };
}

/** client_secret_jwt (RFC 7523 §2.2): an HS256 assertion keyed by the client secret, `aud` the token endpoint. */
export function clientSecretJwtDialect(options: {
  readonly tokenEndpoint: () => string;
  readonly clients: Readonly<Record<string, string>>;
}): Behaviour {
  return async (request) => {
    const { params } = request;
    if (
      params.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' ||
      !params.client_assertion
    ) {
      return oauthError(401, 'invalid_client');
    }
    const secret = options.clients[params.client_id ?? ''];
    if (!secret) return oauthError(401, 'invalid_client');
    try {
      await jwtVerify(params.client_assertion, new TextEncoder().encode(secret), {
        algorithms: ['HS256'],
        audience: options.tokenEndpoint(),
        issuer: params.client_id,
        subject: params.client_id,
        requiredClaims: ['jti', 'exp'],
      });
    } catch (error) {
      return oauthError(401, 'invalid_client', (error as Error).message);
    }
    return {
      status: 200,
      body: { access_token: `hmac-${randomUUID()}`, token_type: 'Bearer', expires_in: 3600 },
    };
  };
}
