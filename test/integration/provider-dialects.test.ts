import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FakeProvider, startFakeProvider } from '../../local/loopback/fake-provider';
import {
  bccDialect,
  bokbasenDialect,
  gopacsDialect,
  norskGjeldDialect,
  signaturgruppenDialect,
} from '../support/provider-dialects';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

/**
 * Conformance of the shipped provider entries (config/providers/*.json) with each provider's dialect, as its
 * document describes it, against a loopback server that refuses what the real one would refuse. The only
 * changes to an entry are the ones an operator makes (callers) and the loopback token endpoint.
 */
function shippedEntry(
  file: 'sandbox' | 'production',
  id: string,
  tokenEndpoint: string,
  overrides: Record<string, unknown> = {},
) {
  const path = join(__dirname, '..', '..', 'config', 'providers', `${file}.json`);
  const { providers } = JSON.parse(readFileSync(path, 'utf8')) as {
    providers: Array<Record<string, unknown>>;
  };
  const entry = providers.find((provider) => provider.id === id);
  assert.ok(entry, `${id} is shipped in ${file}.json`);
  return { ...entry, tokenEndpoint, callers: [ORDERS_ROLE], ...overrides };
}

const log = new RecordingLog();
const sensitive: string[] = [];
const services: TestService[] = [];
const servers: FakeProvider[] = [];

async function serve(
  behaviour: Parameters<typeof startFakeProvider>[0],
  entries: (endpoint: string) => Record<string, unknown>[],
  secrets: Record<string, unknown>,
  now?: () => number,
) {
  const server = await startFakeProvider(behaviour);
  servers.push(server);
  const service = await startTestService({
    providers: entries(server.tokenEndpoint),
    secrets,
    log,
    ...(now ? { now } : {}),
  });
  services.push(service);
  return { server, service };
}

afterAll(async () => {
  await Promise.all(services.map((service) => service.close()));
  await Promise.all(servers.map((server) => server.close()));
});

describe('BCC (Auth0, JSON body)', () => {
  const client = { id: 'bcc-client', secret: 'bcc-client-secret-value' };
  sensitive.push(client.secret);

  it('vends with a JSON body, the audience and # scopes, and passes the granted scope on', async () => {
    const scopes = ['persons.name#read', 'persons.birth_date#read'];
    const { server, service } = await serve(
      bccDialect(client, 'sandbox-api.bcc.no', scopes),
      (endpoint) => [shippedEntry('sandbox', 'bcc-sandbox', endpoint)],
      { 'token-vending/bcc-sandbox': { client_id: client.id, client_secret: client.secret } },
    );
    const response = await service.vend('bcc-sandbox', {
      scope: 'persons.name#read persons.birth_date#read',
    });
    assert.equal(response.status, 200, response.text);
    sensitive.push(String(response.json.access_token));
    assert.equal(response.json.scope, 'persons.birth_date#read persons.name#read');
    assert.ok(Number(response.json.expires_in) > 86_000);
    const request = server.requests.at(-1);
    assert.equal(request?.contentType, 'application/json');
    assert.equal(request?.params.audience, 'sandbox-api.bcc.no');
    assert.equal(request?.params.scope, 'persons.birth_date#read persons.name#read');
    // The default scope when the caller names none.
    const byDefault = await service.vend('bcc-sandbox');
    assert.equal(byDefault.json.scope, 'persons.name#read');
  });
});

describe('Norsk Gjeldsinformasjon (form body, lower-case bearer)', () => {
  const client = { id: 'ng-client', secret: 'ng-client-secret-value' };
  sensitive.push(client.secret);
  const audience = 'https://api-preprod.norskgjeld.no/consents';

  it('vends with a form body, audience and scope, and answers Bearer for bearer', async () => {
    const { server, service } = await serve(
      norskGjeldDialect(client, audience),
      (endpoint) => [
        // The operator adds the audience of the service being called, as the provider's reference names it.
        shippedEntry('sandbox', 'norsk-gjeld-preprod', endpoint, {
          defaultAudience: audience,
          allowedAudiences: [audience],
        }),
      ],
      { 'token-vending/norsk-gjeld-preprod': { client_id: client.id, client_secret: client.secret } },
    );
    const response = await service.vend('norsk-gjeld-preprod', {
      scope: ['debt.unsecured.presentation', 'debt.unsecured.processing'],
    });
    assert.equal(response.status, 200, response.text);
    sensitive.push(String(response.json.access_token));
    assert.equal(response.json.token_type, 'Bearer');
    assert.equal(response.json.scope, 'debt.unsecured.presentation debt.unsecured.processing');
    assert.ok(Number(response.json.expires_in) >= 3597 && Number(response.json.expires_in) <= 3599);
    const request = server.requests.at(-1);
    assert.match(String(request?.contentType), /^application\/x-www-form-urlencoded/);
    assert.match(String(request?.headers.authorization), /^Basic /);
    assert.equal(request?.params.client_secret, undefined, 'the secret travels in the Basic header only');
  });
});

describe('Bokbasen (Auth0, JSON or form, bare 401/403)', () => {
  const client = { id: 'bokbasen-client', secret: 'bokbasen-client-secret-value' };
  sensitive.push(client.secret);
  // The TEST entry's audiences are the stage API's (the production audience is refused there).
  const metadata = 'https://api.stage.bokbasen.io/metadata/';
  const orders = 'https://api.stage.bokbasen.io/orders/';
  let lifetime = () => ({ expiresIn: 86_400, exp: Math.floor(Date.now() / 1000) + 86_400 });
  let fixture: { server: FakeProvider; service: TestService };

  beforeAll(async () => {
    fixture = await serve(
      bokbasenDialect(client, [metadata], () => lifetime()),
      (endpoint) => [
        shippedEntry('sandbox', 'bokbasen-test', endpoint, { allowedAudiences: [metadata, orders] }),
        shippedEntry('sandbox', 'bokbasen-test', endpoint, {
          id: 'bokbasen-test-form',
          bodyEncoding: 'form',
          allowedAudiences: [metadata, orders],
        }),
        shippedEntry('sandbox', 'bokbasen-test', endpoint, { id: 'bokbasen-test-wrong', secretId: 'wrong' }),
      ],
      {
        'token-vending/bokbasen-test': { client_id: client.id, client_secret: client.secret },
        wrong: { client_id: client.id, client_secret: 'not-it' },
      },
    );
  });

  it('vends with a JSON body and with a form body', async () => {
    for (const id of ['bokbasen-test', 'bokbasen-test-form']) {
      const response = await fixture.service.vend(id);
      assert.equal(response.status, 200, response.text);
      sensitive.push(String(response.json.access_token));
      assert.equal(fixture.server.requests.at(-1)?.params.audience, metadata);
    }
    assert.deepEqual(
      fixture.server.requests.slice(-2).map((request) => request.contentType.split(';')[0]),
      ['application/json', 'application/x-www-form-urlencoded'],
    );
  });

  it('maps a 401 to upstream_rejected naming bad credentials', async () => {
    const response = await fixture.service.vend('bokbasen-test-wrong');
    assert.equal(response.status, 502);
    assert.equal(response.json.error, 'upstream_rejected');
    assert.match(String(response.json.message), /HTTP 401 \(bad client credentials\)/);
  });

  it('maps a 403 for an audience not granted to upstream_rejected naming it', async () => {
    const response = await fixture.service.vend('bokbasen-test', { audience: orders });
    assert.equal(response.status, 502);
    assert.equal(response.json.error, 'upstream_rejected');
    assert.match(String(response.json.message), /HTTP 403 \(scope or audience not granted/);
  });

  it("never keeps a token past the JWT's exp, whatever expires_in says, and follows a varying expires_in", async () => {
    const exp = Math.floor(Date.now() / 1000) + 900;
    lifetime = () => ({ expiresIn: 86_400, exp });
    await fixture.service.evict('bokbasen-test-form');
    const early = await fixture.service.vend('bokbasen-test-form');
    assert.equal(early.status, 200);
    sensitive.push(String(early.json.access_token));
    assert.equal(Date.parse(String(early.json.expires_at)) / 1000, exp);

    lifetime = () => ({ expiresIn: 4321, exp: Math.floor(Date.now() / 1000) + 86_400 });
    await fixture.service.evict('bokbasen-test-form');
    const varying = await fixture.service.vend('bokbasen-test-form');
    sensitive.push(String(varying.json.access_token));
    assert.ok(Number(varying.json.expires_in) <= 4321 && Number(varying.json.expires_in) >= 4319);
  });
});

describe('Signaturgruppen (private_key_jwt or client secret)', () => {
  const keys: Array<{
    id: string;
    algorithm: string;
    privateKey: unknown;
    publicJwk: Record<string, unknown>;
  }> = [];
  const make = (id: string, algorithm: 'RS256' | 'PS256' | 'ES256', form: 'pkcs8' | 'pkcs1' | 'jwk') => {
    const pair =
      algorithm === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privateKey: KeyObject = pair.privateKey;
    const serialized =
      form === 'jwk'
        ? privateKey.export({ format: 'jwk' })
        : privateKey.export({ format: 'pem', type: form }).toString();
    keys.push({
      id,
      algorithm,
      privateKey: serialized,
      publicJwk: { ...pair.publicKey.export({ format: 'jwk' }), kid: `${id}-kid`, alg: algorithm },
    });
    sensitive.push(typeof serialized === 'string' ? serialized : String(serialized.d));
  };
  make('sg-rs256-pkcs8', 'RS256', 'pkcs8');
  make('sg-rs256-pkcs1', 'RS256', 'pkcs1');
  make('sg-ps256-jwk', 'PS256', 'jwk');
  make('sg-es256-pkcs8', 'ES256', 'pkcs8');
  const secretClient = { id: 'sg-secret-client', secret: 'sg-client-secret-value' };
  sensitive.push(secretClient.secret);

  let endpoint = '';
  const dialect = signaturgruppenDialect({
    tokenEndpoint: () => endpoint,
    secretClients: { [secretClient.id]: secretClient.secret },
    keyClients: Object.fromEntries(keys.map((key) => [key.id, { keys: [key.publicJwk] }])),
  });
  let fixture: { server: FakeProvider; service: TestService };

  beforeAll(async () => {
    fixture = await serve(
      dialect.behaviour,
      (tokenEndpoint) => {
        endpoint = tokenEndpoint;
        return [
          shippedEntry('sandbox', 'signaturgruppen-preprod', tokenEndpoint),
          ...keys.map((key) =>
            shippedEntry('sandbox', 'signaturgruppen-preprod', tokenEndpoint, {
              id: key.id,
              clientAuth: 'private_key_jwt',
              assertionAlgorithm: key.algorithm,
              secretId: `token-vending/${key.id}`,
            }),
          ),
        ];
      },
      {
        'token-vending/signaturgruppen-preprod': {
          client_id: secretClient.id,
          client_secret: secretClient.secret,
        },
        ...Object.fromEntries(
          keys.map((key) => [
            `token-vending/${key.id}`,
            { client_id: key.id, private_key: key.privateKey, key_id: `${key.id}-kid` },
          ]),
        ),
      },
    );
  });

  it('vends with a client secret and scope neb_api', async () => {
    const response = await fixture.service.vend('signaturgruppen-preprod');
    assert.equal(response.status, 200, response.text);
    sensitive.push(String(response.json.access_token));
    assert.equal(response.json.scope, 'neb_api');
  });

  for (const [id, description] of [
    ['sg-rs256-pkcs8', 'RS256 with a PKCS#8 PEM'],
    ['sg-rs256-pkcs1', 'RS256 with a PKCS#1 PEM'],
    ['sg-ps256-jwk', 'PS256 with a private JWK'],
    ['sg-es256-pkcs8', 'ES256 with an EC PKCS#8 PEM'],
  ] as const) {
    it(`vends with private_key_jwt, ${description}, aud = token endpoint and the secret's kid`, async () => {
      const response = await fixture.service.vend(id);
      assert.equal(response.status, 200, response.text);
      sensitive.push(String(response.json.access_token));
      const assertion = String(fixture.server.requests.at(-1)?.params.client_assertion);
      const [header, payload] = assertion
        .split('.')
        .slice(0, 2)
        .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
      assert.equal(header.kid, `${id}-kid`);
      assert.equal(header.alg, keys.find((key) => key.id === id)?.algorithm);
      assert.equal(payload.aud, endpoint);
      assert.equal(payload.iss, id);
      assert.equal(payload.sub, id);
    });
  }

  it('signs a fresh jti each time, which the server (refusing replays) accepts', async () => {
    const before = dialect.seenJtis.size;
    for (let round = 0; round < 3; round++) {
      await fixture.service.evict('sg-rs256-pkcs8');
      const response = await fixture.service.vend('sg-rs256-pkcs8');
      assert.equal(response.status, 200, response.text);
      sensitive.push(String(response.json.access_token));
    }
    assert.equal(dialect.seenJtis.size, before + 3);
    // Control: the same assertion again is refused, so acceptance above really means fresh jtis.
    const replay = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: fixture.server.requests.at(-1)?.rawBody,
    });
    assert.equal(replay.status, 400);
    assert.match(await replay.text(), /jti replayed/);
  });
});

describe('GOPACS (Keycloak, 300-second tokens)', () => {
  const client = { id: 'gopacs-client', secret: 'gopacs-client-secret-value' };
  sensitive.push(client.secret);

  it('vends with a form body and no scope or audience, and never echoes Keycloak extras', async () => {
    const { server, service } = await serve(
      gopacsDialect(client),
      (endpoint) => [shippedEntry('sandbox', 'gopacs-acceptance', endpoint)],
      { 'token-vending/gopacs-acceptance': { client_id: client.id, client_secret: client.secret } },
    );
    const response = await service.vend('gopacs-acceptance');
    assert.equal(response.status, 200, response.text);
    sensitive.push(String(response.json.access_token));
    assert.deepEqual(Object.keys(response.json).sort(), [
      'access_token',
      'expires_at',
      'expires_in',
      'scope',
      'token_type',
    ]);
    assert.equal(response.json.token_type, 'Bearer');
    assert.ok(!/refresh|session_state|not-before/.test(response.text));
    const request = server.requests.at(-1);
    assert.deepEqual(Object.keys(request?.params ?? {}).sort(), ['client_id', 'client_secret', 'grant_type']);
    assert.ok(
      !log.lines.some((line) => line.includes('keycloak-refresh-token')),
      'the refresh token is not logged',
    );
  });

  // Calls every 10 s for 20 minutes. A 60 s margin renews at 90–120 s left (every 180–210 s); a 900 s margin
  // is capped at 150 s and renews at 180–210 s left (every 90–120 s). The 10–20 % depends on the key.
  for (const [margin, least, most] of [
    [60, 5, 9],
    [900, 9, 15],
  ] as const) {
    it(`renews 300-second tokens before their margin, not on every call, with refreshMarginSeconds ${margin}`, async () => {
      let clock = Date.now();
      const { server, service } = await serve(
        gopacsDialect(
          client,
          () => 300,
          () => Math.floor(clock / 1000),
        ),
        (endpoint) => [
          shippedEntry('sandbox', 'gopacs-acceptance', endpoint, { refreshMarginSeconds: margin }),
        ],
        { 'token-vending/gopacs-acceptance': { client_id: client.id, client_secret: client.secret } },
        () => clock,
      );
      const calls = 120;
      for (let call = 0; call < calls; call++) {
        const response = await service.vend('gopacs-acceptance');
        assert.equal(response.status, 200);
        sensitive.push(String(response.json.access_token));
        assert.ok(
          Number(response.json.expires_in) > Math.min(margin, 150),
          `${response.json.expires_in} s left`,
        );
        clock += 10_000;
      }
      // 1200 s of 300-second tokens: a renewal every few calls, never one per call.
      assert.ok(
        server.requests.length >= least && server.requests.length <= most,
        `${server.requests.length} token requests`,
      );
    });
  }

  it('does not cache a token too short-lived to serve anyone else', async () => {
    const { server, service } = await serve(
      gopacsDialect(client, () => 5),
      (endpoint) => [shippedEntry('sandbox', 'gopacs-acceptance', endpoint)],
      { 'token-vending/gopacs-acceptance': { client_id: client.id, client_secret: client.secret } },
    );
    for (let call = 0; call < 2; call++) {
      const response = await service.vend('gopacs-acceptance', { min_ttl: 0 });
      assert.equal(response.status, 200, response.text);
      sensitive.push(String(response.json.access_token));
    }
    assert.equal(server.requests.length, 2);
  });
});

describe('Across the dialects', () => {
  it('logs no client secret, private key or token', () => {
    assert.ok(log.lines.length > 30);
    assertNothingSensitive(log.lines, [...sensitive, 'keycloak-refresh-token']);
  });
});
