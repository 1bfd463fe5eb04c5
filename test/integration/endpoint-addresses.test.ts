import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { UpstreamError } from '../../lambda/errors';
import { OAuthTokenClient } from '../../lambda/oauth/token-client';
import { type FakeProvider, startFakeProvider } from '../../local/loopback/fake-provider';

/**
 * The address a token request connects to is checked, not only the configured literal: a name that resolves
 * to loopback (here `localhost`, as `localtest.me` or `*.nip.io` would) is refused for a deployed service on
 * the plain path and on the mTLS path, before any byte is sent; the local run still reaches loopback.
 */
describe('Token requests: the address connected to', () => {
  let provider: FakeProvider;
  let tls: Server;
  let tlsConnections = 0;

  beforeAll(async () => {
    provider = await startFakeProvider();
    // Stands in for an mTLS provider: it only has to count who connects.
    tls = createServer((socket) => {
      tlsConnections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await provider.close();
    await new Promise((resolve) => tls.close(resolve));
  });

  // Parsed as the local run parses: the configuration check is not what is under test here.
  const entry = (tokenEndpoint: string, clientAuth = 'client_secret_post') => {
    const [config] = parseProviderConfig(
      { providers: [{ id: 'guarded', tokenEndpoint, clientAuth, secretId: 's' }] },
      'test',
      'local',
    );
    assert.ok(config);
    return config;
  };
  const secret = { clientId: 'guarded', clientSecret: 'guarded-secret' };
  const port = () => new URL(provider.tokenEndpoint).port;

  const refused = async (client: OAuthTokenClient, tokenEndpoint: string, credentials: object = secret) => {
    await assert.rejects(
      client.requestToken({
        provider: entry(
          tokenEndpoint,
          'clientCertificate' in credentials ? 'tls_client_auth' : 'client_secret_post',
        ),
        credentials: credentials as never,
        scopes: [],
      }),
      (error: unknown) => {
        assert.ok(error instanceof UpstreamError, String(error));
        assert.equal(error.code, 'upstream_unavailable');
        assert.match(error.message, /a loopback address, where the service does not connect/);
        assert.equal(error.upstream.attempts, 1, 'not retried');
        return true;
      },
    );
  };

  it('refuses a name that resolves to loopback, and a loopback literal, for a deployed service', async () => {
    const client = new OAuthTokenClient({ endpoints: 'public' });
    const before = provider.requests.length;
    await refused(client, `http://localhost:${port()}/token`);
    await refused(client, `http://127.0.0.1:${port()}/token`);
    await refused(client, `http://[::1]:${port()}/token`);
    assert.equal(provider.requests.length, before, 'nothing reached the provider');
  });

  it('refuses it on the mTLS path too, before connecting', async () => {
    const client = new OAuthTokenClient({ endpoints: 'public' });
    const dir = mkdtempSync(join(tmpdir(), 'tvm-guarded-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=guarded',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    const mtls = {
      clientId: 'guarded',
      clientCertificate: readFileSync(join(dir, 'cert.pem'), 'utf8'),
      privateKey: readFileSync(join(dir, 'key.pem'), 'utf8'),
    };
    rmSync(dir, { recursive: true, force: true });
    const tlsPort = (tls.address() as AddressInfo).port;
    await refused(client, `https://localhost:${tlsPort}/token`, mtls);
    assert.equal(tlsConnections, 0);
  });

  it('lets the local run reach loopback by name and by literal', async () => {
    const client = new OAuthTokenClient({ endpoints: 'local' });
    for (const host of ['localhost', '127.0.0.1']) {
      const { token } = await client.requestToken({
        provider: entry(`http://${host}:${port()}/token`),
        credentials: secret as never,
        scopes: [],
      });
      assert.ok(token.accessToken);
    }
  });
});
