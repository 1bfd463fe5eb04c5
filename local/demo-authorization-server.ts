import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import type { ClientMetadata, Configuration } from 'oidc-provider';

export interface AuthorizationServerOptions {
  readonly clients: readonly ClientMetadata[];
  /** Scopes a client may be granted. @default ['demo.read', 'demo.write'] */
  readonly scopes?: readonly string[];
  /** @default 3600 */
  readonly accessTokenTtlSeconds?: number;
  /** Resource (audience) used when a request names none. @default 'https://api.demo.local' */
  readonly defaultResource?: string;
  /** @default a free port */
  readonly port?: number;
}

export interface AuthorizationServer {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** Token requests received so far, successful or not. */
  readonly tokenRequests: () => number;
  close(): Promise<void>;
}

/**
 * A real, certified OAuth 2.0 server (oidc-provider) on loopback issuing client-credentials tokens as JWTs.
 * It reads RFC 8707 `resource`; Auth0's `audience` is mapped onto it so either dialect gets an audience.
 */
export async function startAuthorizationServer(
  options: AuthorizationServerOptions,
): Promise<AuthorizationServer> {
  const { default: Provider } = await import('oidc-provider');
  // In memory by design (a demo and test server of one process); a fresh adapter of oidc-provider's own
  // rather than its default one, whose warning is about running it in production.
  const { createMemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');
  const scopes = options.scopes ?? ['demo.read', 'demo.write'];
  const defaultResource = options.defaultResource ?? 'https://api.demo.local';
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'demo-signing-key' };

  let tokenRequests = 0;
  const httpServer: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const issuer = `http://127.0.0.1:${port}`;

  const configuration: Configuration = {
    clients: options.clients.map((client) => ({
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: scopes.join(' '),
      ...client,
    })),
    adapter: createMemoryAdapter(),
    jwks: { keys: [signingKey] },
    scopes: [...scopes],
    ttl: { ClientCredentials: options.accessTokenTtlSeconds ?? 3600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx) => {
          const body = ctx.oidc.body as Record<string, unknown> | undefined;
          return typeof body?.audience === 'string' ? body.audience : defaultResource;
        },
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => ({
          scope: scopes.join(' '),
          audience: resourceIndicator,
          accessTokenTTL: options.accessTokenTtlSeconds ?? 3600,
          accessTokenFormat: 'jwt',
        }),
      },
    },
  };
  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();
  httpServer.on('request', (request, response) => {
    if (request.method === 'POST' && request.url?.startsWith('/token')) tokenRequests += 1;
    callback(request, response);
  });

  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    tokenRequests: () => tokenRequests,
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      }),
  };
}
