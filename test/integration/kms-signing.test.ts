import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, GetPublicKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, compactVerify, decodeProtectedHeader, exportJWK, type JWK } from 'jose';
import type { SigningAlgorithm } from '../../lambda/oauth/assertion-signer';
import { KmsAssertionSigner } from '../../lambda/oauth/kms-assertion-signer';
import { kmsSignerFactory } from '../../lambda/oauth/signing-keys';
import { type FakeProvider, startFakeProvider } from '../../local/loopback/fake-provider';
import { type KmsEndpoint, kmsClient, startKmsEndpoint } from '../../local/loopback/kms-endpoint';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { maskinportenDialect, signaturgruppenDialect } from '../support/provider-dialects';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const SCOPE = 'digdir:dialogporten.serviceprovider';
const KEY_SPEC: Record<SigningAlgorithm, 'RSA_2048' | 'ECC_NIST_P256'> = {
  RS256: 'RSA_2048',
  PS256: 'RSA_2048',
  ES256: 'ECC_NIST_P256',
};

function shipped(id: string): Record<string, unknown> {
  const path = join(__dirname, '..', '..', 'config', 'providers', 'sandbox.json');
  const { providers } = JSON.parse(readFileSync(path, 'utf8')) as {
    providers: Array<Record<string, unknown>>;
  };
  const entry = providers.find((provider) => provider.id === id);
  assert.ok(entry, id);
  return entry;
}

/** The public key as KMS gives it out (`GetPublicKey`), read apart from the code under test. */
async function publicKeyOf(client: KMSClient, keyArn: string): Promise<KeyObject> {
  const { PublicKey } = await client.send(new GetPublicKeyCommand({ KeyId: keyArn }));
  assert.ok(PublicKey);
  return createPublicKey({ key: Buffer.from(PublicKey), format: 'der', type: 'spki' });
}

async function thumbprintOf(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(key), 'sha256');
}

/** A self-signed business certificate and its key, as an organisation holds them before importing the key. */
function selfSignedCertificate(): { keyPem: string; certificateDer: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tvm-kms-cert-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=tvm-kms-virksomhet'].concat(
      ['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
    ),
    { stdio: 'ignore' },
  );
  return {
    keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'),
    certificateDer: readFileSync(join(dir, 'cert.pem'), 'utf8').replace(
      /-----(BEGIN|END) CERTIFICATE-----|\s+/g,
      '',
    ),
  };
}

const headerOf = (jws: string) => decodeProtectedHeader(jws);

/**
 * Signing keys that never leave KMS: assertions signed with `kms:Sign` on the loopback KMS (real SDK client,
 * real SigV4), verified with the key `GetPublicKey` gives, and accepted by the Signaturgruppen
 * (private_key_jwt) and Maskinporten-shaped (JWT bearer, kid and x5c) servers, through the whole service.
 */
describe('KMS-held signing keys', () => {
  let kms: KmsEndpoint;
  let client: KMSClient;
  const log = new RecordingLog();
  const servers: FakeProvider[] = [];
  const services: TestService[] = [];
  const tables: TestTable[] = [];
  const sensitive: string[] = [];

  beforeAll(async () => {
    kms = await startKmsEndpoint();
    client = kmsClient(kms);
  });
  afterAll(async () => {
    await Promise.all(services.map((service) => service.close()));
    await Promise.all(servers.map((server) => server.close()));
    await Promise.all(tables.map((table) => table.dispose()));
    await kms.close();
    assertNothingSensitive(log.lines, sensitive);
  });

  const createKey = async (algorithm: SigningAlgorithm): Promise<string> => {
    const { KeyMetadata } = await client.send(
      new CreateKeyCommand({ KeySpec: KEY_SPEC[algorithm], KeyUsage: 'SIGN_VERIFY' }),
    );
    assert.ok(KeyMetadata?.Arn);
    return KeyMetadata.Arn;
  };
  const serve = async (behaviour: Parameters<typeof startFakeProvider>[0]) => {
    const server = await startFakeProvider(behaviour);
    servers.push(server);
    return server;
  };
  const service = async (
    providers: Record<string, unknown>[],
    secrets: Record<string, unknown>,
    table?: TestTable,
  ) => {
    const started = await startTestService({
      providers,
      secrets,
      log,
      signers: kmsSignerFactory(client, {}),
      ...(table ? { table } : {}),
    });
    services.push(started);
    return started;
  };
  const signCalls = (arn: string) => kms.signingKeys.signCalls.filter((called) => called === arn).length;

  for (const algorithm of ['RS256', 'PS256', 'ES256'] as const) {
    it(`signs ${algorithm} with kms:Sign, verifiable with the key GetPublicKey gives, kid its thumbprint`, async () => {
      const keyArn = await createKey(algorithm);
      const signer = new KmsAssertionSigner({ client, keyArn, algorithm });
      const signingInput = `${Buffer.from(JSON.stringify({ alg: algorithm })).toString('base64url')}.eyJzdWIiOiJ0ZXN0In0`;
      const signature = await signer.sign(new TextEncoder().encode(signingInput));
      if (algorithm === 'ES256') assert.equal(signature.length, 64, 'r‖s, not DER');
      const publicKey = await publicKeyOf(client, keyArn);
      await compactVerify(`${signingInput}.${Buffer.from(signature).toString('base64url')}`, publicKey, {
        algorithms: [algorithm],
      });
      assert.equal(await signer.keyId(), await thumbprintOf(publicKey));
      const jwk = await signer.publicJwk();
      assert.deepEqual([jwk.alg, jwk.use, jwk.kid], [algorithm, 'sig', await thumbprintOf(publicKey)]);
      assert.equal('d' in jwk, false, 'the public half only');
    });
  }

  it('answers 503 service_unavailable, not an upstream error, when KMS refuses to sign', async () => {
    const keyArn = await createKey('RS256');
    const server = await serve(() => ({ status: 500 }));
    const vendor = await service(
      [
        {
          ...shipped('signaturgruppen-preprod'),
          id: 'sg-kms-disabled',
          tokenEndpoint: server.tokenEndpoint,
          callers: [ORDERS_ROLE],
          clientAuth: 'private_key_jwt',
          signingKey: { kms: keyArn, algorithm: 'RS256', kid: 'fixed' },
        },
      ],
      { 'token-vending/signaturgruppen-preprod': { client_id: 'sg-disabled' } },
    );
    kms.signingKeys.setDisabled(keyArn, true);
    const response = await vendor.vend('sg-kms-disabled');
    assert.equal(response.status, 503, response.text);
    assert.equal(response.json.error, 'service_unavailable');
    assert.match(String(response.json.message), /signing key is unavailable \(KMS Sign: DisabledException\)/);
    assert.doesNotMatch(response.text, /arn:aws:kms/);
    assert.equal(server.requests.length, 0, 'nothing unsigned is sent');
  });

  describe('Signaturgruppen, private_key_jwt', () => {
    let endpoint = '';
    const jwks: Record<string, { keys: JWK[] }> = {};
    const dialect = signaturgruppenDialect({
      tokenEndpoint: () => endpoint,
      secretClients: {},
      keyClients: jwks,
    });

    for (const algorithm of ['RS256', 'PS256', 'ES256'] as const) {
      it(`vends with ${algorithm} signed in KMS: one Sign per upstream request, none per vend`, async () => {
        const keyArn = await createKey(algorithm);
        const clientId = `sg-kms-${algorithm.toLowerCase()}`;
        const publicKey = await publicKeyOf(client, keyArn);
        jwks[clientId] = {
          keys: [{ ...(await exportJWK(publicKey)), alg: algorithm, kid: await thumbprintOf(publicKey) }],
        };
        const server = await serve(dialect.behaviour);
        endpoint = server.tokenEndpoint;
        const vendor = await service(
          [
            {
              ...shipped('signaturgruppen-preprod'),
              id: clientId,
              tokenEndpoint: server.tokenEndpoint,
              callers: [ORDERS_ROLE],
              clientAuth: 'private_key_jwt',
              secretId: `token-vending/${clientId}`,
              signingKey: { kms: keyArn, algorithm },
            },
          ],
          // The secret holds no key at all.
          { [`token-vending/${clientId}`]: { client_id: clientId } },
        );
        for (let vend = 0; vend < 3; vend++) {
          const response = await vendor.vend(clientId);
          assert.equal(response.status, 200, response.text);
          sensitive.push(String(response.json.access_token));
        }
        assert.equal(server.requests.length, 1);
        assert.equal(signCalls(keyArn), 1, 'three vends, one upstream request, one Sign');
        const assertion = String(server.requests[0]?.params.client_assertion);
        assert.deepEqual(headerOf(assertion), { alg: algorithm, kid: await thumbprintOf(publicKey) });
        await compactVerify(assertion, publicKey);
        await vendor.evict(clientId);
        assert.equal((await vendor.vend(clientId)).status, 200);
        assert.equal(server.requests.length, 2);
        assert.equal(signCalls(keyArn), 2);
      });
    }
  });

  describe('Maskinporten, the JWT-bearer grant', () => {
    const entry = (
      tokenEndpoint: string,
      signingKey: Record<string, unknown>,
      extra: Record<string, unknown> = {},
    ) => ({
      ...shipped('maskinporten-test'),
      tokenEndpoint,
      callers: [ORDERS_ROLE],
      signingKey,
      ...extra,
    });

    it('signs the assertion in KMS under the kid Maskinporten fixed at registration', async () => {
      const keyArn = await createKey('RS256');
      const dialect = maskinportenDialect({
        audience: 'https://test.maskinporten.no/',
        keys: { 'mp-registered-kid': { key: await publicKeyOf(client, keyArn), clientId: 'mp-kms-client' } },
        scopes: [SCOPE],
      });
      const server = await serve(dialect.behaviour);
      const vendor = await service(
        [entry(server.tokenEndpoint, { kms: keyArn, algorithm: 'RS256', kid: 'mp-registered-kid' })],
        { 'token-vending/maskinporten-test': { client_id: 'mp-kms-client' } },
      );
      const response = await vendor.vend('maskinporten-test');
      assert.equal(response.status, 200, response.text);
      assert.equal(dialect.claims[0]?.iss, 'mp-kms-client');
      assert.equal(signCalls(keyArn), 1);
    });

    it('rotates to the next key: a switch is a setting, and no token of the old key is served after it', async () => {
      const table = await createTestTable();
      tables.push(table);
      const [oldArn, newArn] = [await createKey('RS256'), await createKey('RS256')];
      const [oldKey, newKey] = [await publicKeyOf(client, oldArn), await publicKeyOf(client, newArn)];
      const dialect = maskinportenDialect({
        audience: 'https://test.maskinporten.no/',
        // Both registered ahead of the switch, as the public-key command's JWKS lists them.
        keys: {
          [await thumbprintOf(oldKey)]: { key: oldKey, clientId: 'mp-rotating' },
          [await thumbprintOf(newKey)]: { key: newKey, clientId: 'mp-rotating' },
        },
        scopes: [SCOPE],
      });
      const server = await serve(dialect.behaviour);
      const secrets = { 'token-vending/maskinporten-test': { client_id: 'mp-rotating' } };
      const before = await service(
        [
          entry(server.tokenEndpoint, {
            kms: oldArn,
            algorithm: 'RS256',
            next: { kms: newArn, algorithm: 'RS256' },
          }),
        ],
        secrets,
        table,
      );
      const first = await before.vend('maskinporten-test');
      assert.equal(first.status, 200, first.text);
      // The same table, after the setting change: the next key is now the current one.
      const after = await service(
        [entry(server.tokenEndpoint, { kms: newArn, algorithm: 'RS256' })],
        secrets,
        table,
      );
      const second = await after.vend('maskinporten-test');
      assert.equal(second.status, 200, second.text);
      assert.notEqual(second.json.access_token, first.json.access_token, 'the old key’s token is not served');
      assert.equal(server.requests.length, 2);
      const kids = server.requests.map((request) => headerOf(String(request.params.assertion)).kid);
      assert.deepEqual(kids, [await thumbprintOf(oldKey), await thumbprintOf(newKey)]);
      assert.deepEqual([signCalls(oldArn), signCalls(newArn)], [1, 1]);
      // And the instance still on the old setting keeps its own token.
      assert.equal((await before.vend('maskinporten-test')).json.access_token, first.json.access_token);
    });

    for (const where of ['entry', 'secret'] as const) {
      it(`signs with a business certificate's key imported into KMS, the x5c chain in the ${where}`, async () => {
        const business = selfSignedCertificate();
        sensitive.push(business.keyPem);
        const keyArn = kms.signingKeys.importKeyPair(business.keyPem);
        const dialect = maskinportenDialect({
          audience: 'https://test.maskinporten.no/',
          keys: {},
          certificates: { [business.certificateDer]: 'mp-virksomhet' },
          scopes: [SCOPE],
        });
        const server = await serve(dialect.behaviour);
        const chain = [business.certificateDer];
        const vendor = await service(
          [
            entry(
              server.tokenEndpoint,
              { kms: keyArn, algorithm: 'RS256', ...(where === 'entry' ? { certificateChain: chain } : {}) },
              { assertion: { ...(shipped('maskinporten-test').assertion as object), header: 'x5c' } },
            ),
          ],
          {
            'token-vending/maskinporten-test': {
              client_id: 'mp-virksomhet',
              ...(where === 'secret' ? { certificate_chain: chain } : {}),
            },
          },
        );
        const response = await vendor.vend('maskinporten-test');
        assert.equal(response.status, 200, response.text);
        const header = headerOf(String(server.requests[0]?.params.assertion));
        assert.deepEqual(header.x5c, chain);
        assert.equal(header.kid, undefined);
        assert.equal(signCalls(keyArn), 1);
      });
    }
  });
});
