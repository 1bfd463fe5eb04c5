import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, GetPublicKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, compactVerify, exportJWK, importJWK, type JWK } from 'jose';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { compactJws } from '../../lambda/oauth/jws-signature';
import { localSignerFactory } from '../../local/local-signing-keys';
import { type KmsEndpoint, kmsClient, startKmsEndpoint } from '../../local/loopback/kms-endpoint';
import type { AdminIo } from '../../packages/construct/src/admin/admin-io';
import { runAdmin } from '../../packages/construct/src/admin/tvm-admin';
import { runSecretScript } from '../../scripts/secret';

const run = async (command: (io: AdminIo) => Promise<number>) => {
  let stdout = '';
  let stderr = '';
  const code = await command({ stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, stdout, stderr };
};

/**
 * `tvm-admin public-key` (`npm run secret -- public-key` here): the JWKS a provider registers, from KMS GetPublicKey (the loopback KMS,
 * real SDK client) and from the local run's stand-in; and `check` for KMS-keyed entries.
 */
describe('tvm-admin public-key and secret check, for keys in KMS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tvm-public-key-'));
  const providersFile = join(dir, 'providers.json');
  let kms: KmsEndpoint;
  let client: KMSClient;
  let currentArn = '';
  let nextArn = '';
  const entry = (id: string, signingKey: Record<string, unknown>) => ({
    id,
    tokenEndpoint: 'https://idp.example/token',
    clientAuth: 'private_key_jwt',
    secretId: `tvm/${id}`,
    signingKey,
  });

  beforeAll(async () => {
    kms = await startKmsEndpoint();
    client = kmsClient(kms);
    const create = async (KeySpec: 'RSA_2048' | 'ECC_NIST_P256') =>
      String(
        (await client.send(new CreateKeyCommand({ KeySpec, KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata?.Arn,
      );
    currentArn = await create('RSA_2048');
    nextArn = await create('ECC_NIST_P256');
    writeFileSync(
      providersFile,
      JSON.stringify({
        providers: [
          entry('in-kms', {
            kms: currentArn,
            algorithm: 'RS256',
            certificateChain: ['MIIBfake'],
            next: { kms: nextArn, algorithm: 'ES256', kid: 'fixed-next' },
          }),
          entry('local-keyed', {
            kms: 'create',
            algorithm: 'ES256',
            next: { kms: 'create', name: '2', algorithm: 'PS256' },
          }),
          {
            id: 'plain',
            tokenEndpoint: 'https://idp.example/token',
            clientAuth: 'client_secret_post',
            secretId: 'tvm/plain',
          },
        ],
      }),
    );
    process.env.TVM_LOCAL_SIGNING_KEYS = join(dir, 'keys');
  });
  afterAll(async () => {
    delete process.env.TVM_LOCAL_SIGNING_KEYS;
    await kms.close();
  });

  it('prints current and next from KMS GetPublicKey: kid (thumbprint or fixed), alg, use sig, x5c', async () => {
    const result = await run((io) =>
      runAdmin(['public-key', 'in-kms', '--env', 'sandbox', '--providers', providersFile], io, {
        kms: () => client,
      }),
    );
    assert.equal(result.code, 0, result.stderr);
    const { keys } = JSON.parse(result.stdout) as { keys: JWK[] };
    const { PublicKey } = await client.send(new GetPublicKeyCommand({ KeyId: currentArn }));
    const expected = await exportJWK(
      createPublicKey({ key: Buffer.from(PublicKey as Uint8Array), format: 'der', type: 'spki' }),
    );
    assert.equal(keys.length, 2);
    assert.deepEqual(keys[0], {
      ...expected,
      kid: await calculateJwkThumbprint(expected),
      alg: 'RS256',
      use: 'sig',
      x5c: ['MIIBfake'],
    });
    assert.deepEqual(
      [keys[1]?.kid, keys[1]?.alg, keys[1]?.crv, 'd' in (keys[1] ?? {})],
      ['fixed-next', 'ES256', 'P-256', false],
    );
  });

  it('prints the local stand-in keys with --env local: what the local run signs with, and a local provider trusts', async () => {
    const result = await run((io) =>
      runSecretScript(['public-key', 'local-keyed', '--env', 'local', '--providers', providersFile], io),
    );
    assert.equal(result.code, 0, result.stderr);
    const { keys } = JSON.parse(result.stdout) as { keys: JWK[] };
    assert.deepEqual(
      keys.map((key) => key.alg),
      ['ES256', 'PS256'],
    );
    // The local run's signer (same key files) signs what the printed key verifies.
    const [provider] = parseProviderConfig(
      JSON.parse(readFileSync(providersFile, 'utf8')),
      'f',
      'local',
    ).filter((p) => p.id === 'local-keyed');
    assert.ok(provider?.signingKey);
    const signer = localSignerFactory()(provider, provider.signingKey, 'current');
    const jws = await compactJws({ alg: 'ES256', kid: await signer.keyId() }, { sub: 'x' }, (input) =>
      signer.sign(input),
    );
    await compactVerify(jws, await importJWK(keys[0] as JWK, 'ES256'));
    assert.equal(await signer.keyId(), keys[0]?.kid);
  });

  it('refuses a provider whose key is in its secret, and a missing --env', async () => {
    const plain = await run((io) =>
      runSecretScript(['public-key', 'plain', '--env', 'local', '--providers', providersFile], io),
    );
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /has no signingKey/);
    const noEnv = await run((io) => runAdmin(['public-key', 'in-kms', '--providers', providersFile], io));
    assert.equal(noEnv.code, 2);
    assert.match(noEnv.stderr, /^tvm-admin: usage: --env <environment> is required/);
  });

  it('check: a KMS-keyed entry needs only client_id, and a secret with a private_key is refused', async () => {
    const write = (name: string, value: unknown) => {
      const path = join(dir, name);
      writeFileSync(path, JSON.stringify(value));
      return path;
    };
    const good = write('good.json', { client_id: 'c' });
    const keyed = write('keyed.json', {
      client_id: 'c',
      private_key: '-----BEGIN PRIVATE KEY-----x',
      key_id: 'k',
    });
    const ok = await run((io) =>
      runAdmin(['secret', 'check', 'in-kms', '--file', good, '--providers', providersFile], io),
    );
    assert.equal(ok.code, 0, ok.stderr);
    const refused = await run((io) =>
      runAdmin(['secret', 'check', 'in-kms', '--file', keyed, '--providers', providersFile], io),
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /this provider signs with KMS; remove private_key/);
    assert.doesNotMatch(refused.stderr, /BEGIN PRIVATE KEY/);
  });
});
