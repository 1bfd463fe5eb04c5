import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { type AuthorizationServer, startAuthorizationServer } from '../../local/demo-authorization-server';

export const SCOPES = ['demo.read', 'demo.write'];
export const AUDIENCE = 'https://api.example.test/';

export interface OidcFixture {
  readonly server: AuthorizationServer;
  /** Secret documents by secret id, in the shape Secrets Manager holds. */
  readonly secrets: Record<string, Record<string, unknown>>;
  /** Every secret value the service must never log. */
  readonly sensitive: string[];
}

/**
 * oidc-provider with one client per authentication method the service supports, and the secrets that go
 * with them: client_secret_basic, client_secret_post, and private_key_jwt with the key as PKCS#8, PKCS#1 and JWK.
 */
export async function startOidcFixture(
  options: { accessTokenTtlSeconds?: number } = {},
): Promise<OidcFixture> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid: 'tvm-test-key', alg: 'RS256', use: 'sig' };
  const pkcs8 = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const pkcs1 = privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
  const privateJwk = privateKey.export({ format: 'jwk' });
  const basicSecret = randomBytes(24).toString('base64url');
  const postSecret = randomBytes(24).toString('base64url');
  const jwtClient = (client_id: string) => ({
    client_id,
    token_endpoint_auth_method: 'private_key_jwt' as const,
    token_endpoint_auth_signing_alg: 'RS256' as const,
    jwks: { keys: [publicJwk] },
  });
  const server = await startAuthorizationServer({
    scopes: SCOPES,
    defaultResource: AUDIENCE,
    ...(options.accessTokenTtlSeconds ? { accessTokenTtlSeconds: options.accessTokenTtlSeconds } : {}),
    clients: [
      {
        client_id: 'basic-client',
        client_secret: basicSecret,
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'post-client',
        client_secret: postSecret,
        token_endpoint_auth_method: 'client_secret_post',
      },
      jwtClient('jwt-pkcs8-client'),
      jwtClient('jwt-pkcs1-client'),
      jwtClient('jwt-jwk-client'),
    ],
  });
  return {
    server,
    secrets: {
      'tvm/basic': { client_id: 'basic-client', client_secret: basicSecret },
      'tvm/post': { client_id: 'post-client', client_secret: postSecret },
      'tvm/jwt-pkcs8': { client_id: 'jwt-pkcs8-client', private_key: pkcs8, key_id: 'tvm-test-key' },
      'tvm/jwt-pkcs1': { client_id: 'jwt-pkcs1-client', private_key: pkcs1, key_id: 'tvm-test-key' },
      'tvm/jwt-jwk': { client_id: 'jwt-jwk-client', private_key: privateJwk, key_id: 'tvm-test-key' },
    },
    sensitive: [basicSecret, postSecret, pkcs8, pkcs1, String(privateJwk.d)],
  };
}

/** A provider entry for the fixture's server. */
export function oidcProvider(id: string, tokenEndpoint: string, clientAuth: string, secretId: string) {
  return {
    id,
    tokenEndpoint,
    clientAuth,
    secretId,
    audienceParameter: 'audience',
    defaultAudience: AUDIENCE,
    allowedAudiences: [AUDIENCE, 'https://other.example.test/'],
    defaultScopes: ['demo.read'],
    allowedScopes: SCOPES,
    callers: ['arn:aws:iam::111122223333:role/orders-service'],
  };
}

export function claimsOf(token: unknown): Record<string, unknown> {
  assertString(token);
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

function assertString(value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new Error('expected a string token');
}
