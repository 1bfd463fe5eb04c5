import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { startAuthorizationServer } from '../../local/demo-authorization-server';

export const SCOPES = ['demo.read', 'demo.write'];
export const AUDIENCE = 'https://api.example.test/';

/** The fixture's server, in a process of its own. */
export interface OidcServer {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** Token requests received so far, successful or not. */
  tokenRequests(): Promise<number>;
  close(): Promise<void>;
}

export interface OidcFixture {
  readonly server: OidcServer;
  /** Secret documents by secret id, in the shape Secrets Manager holds. */
  readonly secrets: Record<string, Record<string, unknown>>;
  /** Every secret value the service must never log. */
  readonly sensitive: string[];
}

interface OidcFixtureOptions {
  readonly accessTokenTtlSeconds?: number;
}

/**
 * oidc-provider with one client per authentication method the service supports, and the secrets that go
 * with them: client_secret_basic, client_secret_post, and private_key_jwt with the key as PKCS#8, PKCS#1 and JWK.
 *
 * It runs in a child process: inside a jest worker, oidc-provider refuses private_key_jwt clients (jest's
 * realm breaks its `structuredClone` check on the client metadata). The process prints the fixture as one JSON
 * line and answers `GET /token-requests` on a second port.
 */
export async function startOidcFixture(options: OidcFixtureOptions = {}): Promise<OidcFixture> {
  const child = spawn(process.execPath, ['--import', 'tsx', __filename], {
    env: { ...process.env, TVM_OIDC_FIXTURE: JSON.stringify(options), NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the oidc fixture process exited with ${code}`)));
  });
  const { issuer, tokenEndpoint, adminUrl, secrets, sensitive } = JSON.parse(line) as {
    issuer: string;
    tokenEndpoint: string;
    adminUrl: string;
    secrets: OidcFixture['secrets'];
    sensitive: string[];
  };
  return {
    server: {
      issuer,
      tokenEndpoint,
      tokenRequests: async () => Number(await (await fetch(`${adminUrl}/token-requests`)).text()),
      close: async () => {
        child.kill('SIGTERM');
        await exited;
      },
    },
    secrets,
    sensitive,
  };
}

/** The fixture itself, in this process: what the child process runs. */
async function serveOidcFixture(options: OidcFixtureOptions): Promise<void> {
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
  const fixture = {
    secrets: {
      'tvm/basic': { client_id: 'basic-client', client_secret: basicSecret },
      'tvm/post': { client_id: 'post-client', client_secret: postSecret },
      'tvm/jwt-pkcs8': { client_id: 'jwt-pkcs8-client', private_key: pkcs8, key_id: 'tvm-test-key' },
      'tvm/jwt-pkcs1': { client_id: 'jwt-pkcs1-client', private_key: pkcs1, key_id: 'tvm-test-key' },
      'tvm/jwt-jwk': { client_id: 'jwt-jwk-client', private_key: privateJwk, key_id: 'tvm-test-key' },
    },
    sensitive: [basicSecret, postSecret, pkcs8, pkcs1, String(privateJwk.d)],
  };
  const admin = createServer((_request, response) => response.end(String(server.tokenRequests())));
  await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve));
  const { port } = admin.address() as { port: number };
  process.stdout.write(
    `${JSON.stringify({ issuer: server.issuer, tokenEndpoint: server.tokenEndpoint, adminUrl: `http://127.0.0.1:${port}`, ...fixture })}\n`,
  );
  process.once('SIGTERM', () => {
    admin.close();
    server.close().then(() => process.exit(0));
  });
}

if (process.env.TVM_OIDC_FIXTURE && require.main === module) {
  serveOidcFixture(JSON.parse(process.env.TVM_OIDC_FIXTURE) as OidcFixtureOptions).catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  });
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
