import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { startLocalService } from '../../local/local-service';
import { type FakeProvider, startFakeProvider } from '../../local/loopback/fake-provider';
import { createTestTable } from '../support/dynamodb';
import { clientSecretJwtDialect, maskinportenDialect } from '../support/provider-dialects';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import { signedFetch } from '../support/sigv4-client';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const SCOPE = 'digdir:dialogporten.serviceprovider';

function shipped(id: string, file: 'sandbox' | 'production' = 'sandbox'): Record<string, unknown> {
  const { providers } = JSON.parse(
    readFileSync(join(__dirname, '..', '..', 'config', 'providers', `${file}.json`), 'utf8'),
  ) as { providers: Array<Record<string, unknown>> };
  const entry = providers.find((provider) => provider.id === id);
  assert.ok(entry, id);
  return entry;
}

/** A self-signed business certificate for the x5c header, made with openssl (as an organisation's would be). */
function selfSignedCertificate(
  subject = '/CN=tvm-test-virksomhet',
  extensions: string[] = [],
): { keyPem: string; certificatePem: string; certificateDer: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tvm-cert-'));
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', subject];
  for (const extension of extensions) args.push('-addext', extension);
  args.push('-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'));
  execFileSync('openssl', args, { stdio: 'ignore' });
  const certificatePem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  return {
    keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'),
    certificatePem,
    certificateDer: certificatePem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''),
  };
}

/**
 * The JWT-bearer grant (Maskinporten) with a registered key (`kid`) and with a business certificate (`x5c`),
 * client_secret_jwt, and fixed extra parameters, each against a loopback server written from the
 * specification, through the whole service.
 */
describe('Grants and client authentication', () => {
  const log = new RecordingLog();
  const servers: FakeProvider[] = [];
  const services: TestService[] = [];
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const business = selfSignedCertificate();
  const sensitive = [pem, business.keyPem];

  afterAll(async () => {
    await Promise.all(services.map((service) => service.close()));
    await Promise.all(servers.map((server) => server.close()));
    assertNothingSensitive(log.lines, sensitive);
  });

  const serve = async (behaviour: Parameters<typeof startFakeProvider>[0]) => {
    const server = await startFakeProvider(behaviour);
    servers.push(server);
    return server;
  };
  const service = async (providers: Record<string, unknown>[], secrets: Record<string, unknown>) => {
    const started = await startTestService({ providers, secrets, log });
    services.push(started);
    return started;
  };

  it('vends a Maskinporten token with an assertion naming a registered key', async () => {
    const dialect = maskinportenDialect({
      audience: 'https://test.maskinporten.no/',
      keys: { 'mp-kid': { key: publicKey, clientId: 'mp-client' } },
      scopes: [SCOPE],
    });
    const server = await serve(dialect.behaviour);
    const vendor = await service(
      [
        {
          ...shipped('maskinporten-test'),
          tokenEndpoint: server.tokenEndpoint,
          callers: [ORDERS_ROLE],
          defaultScopes: [SCOPE],
          allowedScopes: [SCOPE],
        },
      ],
      { 'token-vending/maskinporten-test': { client_id: 'mp-client', private_key: pem, key_id: 'mp-kid' } },
    );
    for (let round = 0; round < 3; round++) {
      const response = await vendor.vend('maskinporten-test');
      assert.equal(response.status, 200, response.text);
      assert.equal(response.json.scope, SCOPE);
      await vendor.evict('maskinporten-test');
    }
    assert.equal(server.requests.length, 3);
    assert.equal(dialect.seenJtis.size, 3, 'a new jti every time');
    const [claims] = dialect.claims;
    assert.equal(claims?.aud, 'https://test.maskinporten.no/');
    assert.equal(claims?.iss, 'mp-client');
    assert.equal(Number(claims?.exp) - Number(claims?.iat), 120);
  });

  it("vends with the production entry, its key in the secret, against a server that takes only production's audience", async () => {
    const dialect = maskinportenDialect({
      audience: 'https://maskinporten.no/',
      keys: { 'prod-kid': { key: publicKey, clientId: 'prod-client' } },
      scopes: [SCOPE],
    });
    const server = await serve(dialect.behaviour);
    const vendor = await service(
      [
        {
          ...shipped('maskinporten', 'production'),
          // The shipped entry signs with a KMS key the stack creates (kms-signing.test.ts signs on the
          // loopback KMS); without `signingKey` it takes the documented alternative, the key in the secret.
          signingKey: undefined,
          tokenEndpoint: server.tokenEndpoint,
          callers: [ORDERS_ROLE],
          defaultScopes: [SCOPE],
          allowedScopes: [SCOPE],
        },
      ],
      { 'token-vending/maskinporten': { client_id: 'prod-client', private_key: pem, key_id: 'prod-kid' } },
    );
    const response = await vendor.vend('maskinporten');
    assert.equal(response.status, 200, response.text);
    assert.equal(dialect.claims[0]?.aud, 'https://maskinporten.no/');
  });

  it('vends a Maskinporten-shaped provider end to end through the local run', async () => {
    const dialect = maskinportenDialect({
      audience: 'https://test.maskinporten.no/',
      keys: { 'local-kid': { key: publicKey, clientId: 'local-mp-client' } },
      scopes: [SCOPE],
    });
    const server = await serve(dialect.behaviour);
    const dir = mkdtempSync(join(tmpdir(), 'tvm-local-mp-'));
    const file = (name: string, value: unknown) => {
      writeFileSync(join(dir, name), JSON.stringify(value));
      return join(dir, name);
    };
    const caller = {
      accessKeyId: 'AKIALOCALMASKINPORT1',
      secretAccessKey: 'local-maskinporten-caller-key',
      principalArn: ORDERS_ROLE,
    };
    const table = await createTestTable();
    const local = await startLocalService(
      {
        port: 0,
        providersFile: file('providers.json', {
          providers: [
            {
              ...shipped('maskinporten-test'),
              tokenEndpoint: server.tokenEndpoint,
              callers: [ORDERS_ROLE],
              defaultScopes: [SCOPE],
              allowedScopes: [SCOPE],
            },
          ],
        }),
        secretsFile: file('secrets.json', {
          'token-vending/maskinporten-test': {
            client_id: 'local-mp-client',
            private_key: pem,
            key_id: 'local-kid',
          },
        }),
        callersFile: file('callers.json', [caller]),
        dynamoDbEndpoint: table.endpoint,
        tableName: table.tableName,
      },
      log,
    );
    try {
      const response = await signedFetch({
        method: 'POST',
        url: `${local.gateway.url}/v1/tokens/maskinporten-test`,
        credentials: caller,
      });
      assert.equal(response.status, 200, response.text);
      assert.equal(response.json.scope, SCOPE);
      assert.equal(dialect.claims[0]?.iss, 'local-mp-client');
    } finally {
      await local.stop();
      await table.dispose();
    }
  });

  it('vends with the business certificate in x5c, and sends the resource claim', async () => {
    const dialect = maskinportenDialect({
      audience: 'https://test.maskinporten.no/',
      keys: {},
      certificates: { [business.certificateDer]: 'virksomhet-client' },
      scopes: [SCOPE],
    });
    const server = await serve(dialect.behaviour);
    const entry = shipped('maskinporten-test');
    const vendor = await service(
      [
        {
          ...entry,
          tokenEndpoint: server.tokenEndpoint,
          callers: [ORDERS_ROLE],
          defaultScopes: [SCOPE],
          allowedScopes: [SCOPE],
          assertion: { ...(entry.assertion as object), header: 'x5c', resource: ['https://api.example.no/'] },
        },
      ],
      {
        'token-vending/maskinporten-test': {
          client_id: 'virksomhet-client',
          private_key: business.keyPem,
          certificate_chain: [business.certificateDer],
        },
      },
    );
    const response = await vendor.vend('maskinporten-test');
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(dialect.claims[0]?.resource, ['https://api.example.no/']);
  });

  it('answers 500 naming the provider when the JWT-bearer key does not parse', async () => {
    const server = await serve(() => ({ status: 500, body: {} }));
    const vendor = await service(
      [
        {
          ...shipped('maskinporten-test'),
          id: 'mp-broken',
          tokenEndpoint: server.tokenEndpoint,
          callers: [ORDERS_ROLE],
        },
      ],
      { 'token-vending/maskinporten-test': { client_id: 'c', private_key: 'not a key at all', key_id: 'k' } },
    );
    const response = await vendor.vend('mp-broken');
    assert.equal(response.status, 500);
    assert.equal(server.requests.length, 0, 'nothing was sent');
    const line = log
      .entries()
      .find((entry) => entry.message === 'misconfiguration' && entry.provider === 'mp-broken');
    assert.match(String(line?.error_message), /provider mp-broken: .*not a usable RS256 private key/);
  });

  it('authenticates with a client certificate (tls_client_auth), for that provider only', async () => {
    const serverIdentity = selfSignedCertificate('/CN=127.0.0.1', ['subjectAltName=IP:127.0.0.1']);
    const clientIdentity = selfSignedCertificate('/CN=tvm-mtls-client');
    sensitive.push(clientIdentity.keyPem);
    const seen: Array<{ fingerprint: string | undefined; clientId: string | null }> = [];
    const server = createHttpsServer(
      {
        key: serverIdentity.keyPem,
        cert: serverIdentity.certificatePem,
        ca: clientIdentity.certificatePem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      async (request, response) => {
        const chunks: Buffer[] = [];
        for await (const chunk of request) chunks.push(chunk as Buffer);
        const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const peer = (request.socket as TLSSocket).getPeerCertificate();
        seen.push({ fingerprint: peer.fingerprint256, clientId: params.get('client_id') });
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            access_token: 'bound-to-the-certificate',
            token_type: 'Bearer',
            expires_in: 3600,
          }),
        );
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
      const vendor = await service(
        [
          {
            id: 'mtls',
            tokenEndpoint: endpoint,
            clientAuth: 'tls_client_auth',
            secretId: 'tvm/mtls',
            callers: [ORDERS_ROLE],
          },
        ],
        {
          'tvm/mtls': {
            client_id: 'mtls-client',
            private_key: clientIdentity.keyPem,
            client_certificate: clientIdentity.certificatePem,
            server_ca: serverIdentity.certificatePem,
          },
        },
      );
      const response = await vendor.vend('mtls');
      assert.equal(response.status, 200, response.text);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.clientId, 'mtls-client');
      assert.equal(seen[0]?.fingerprint, new X509Certificate(clientIdentity.certificatePem).fingerprint256);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('authenticates with client_secret_jwt and sends fixed extra parameters', async () => {
    let endpoint = '';
    const server = await serve(
      clientSecretJwtDialect({
        tokenEndpoint: () => endpoint,
        clients: { 'hmac-client': 'hmac-client-secret-0123456789abcdef' },
      }),
    );
    endpoint = server.tokenEndpoint;
    const vendor = await service(
      [
        {
          id: 'hmac',
          tokenEndpoint: server.tokenEndpoint,
          clientAuth: 'client_secret_jwt',
          secretId: 'tvm/hmac',
          callers: [ORDERS_ROLE],
          extraParameters: { tenant: 'nordic' },
        },
      ],
      { 'tvm/hmac': { client_id: 'hmac-client', client_secret: 'hmac-client-secret-0123456789abcdef' } },
    );
    const response = await vendor.vend('hmac');
    assert.equal(response.status, 200, response.text);
    assert.equal(server.requests[0]?.params.tenant, 'nordic');
    assert.equal(server.requests[0]?.params.client_secret, undefined, 'the secret itself is never sent');
    sensitive.push('hmac-client-secret-0123456789abcdef');
  });
});
