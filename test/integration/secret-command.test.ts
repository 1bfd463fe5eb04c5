import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { runAdmin } from '../../packages/construct/src/admin/tvm-admin';
import {
  type SecretsManagerEndpoint,
  secretsManagerClient,
  startSecretsManagerEndpoint,
} from '../support/secrets-manager-endpoint';

/**
 * `tvm-admin secret put` (`npm run secret -- put` here): a provider's secret is checked against its client authentication before it is
 * written, with the real SDK client against a loopback Secrets Manager, and never printed.
 */
describe('tvm-admin secret put', () => {
  let secretsManager: SecretsManagerEndpoint;
  let client: SecretsManagerClient;
  const dir = mkdtempSync(join(tmpdir(), 'tvm-secret-'));
  const providers = join(dir, 'providers.json');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

  beforeAll(async () => {
    secretsManager = await startSecretsManagerEndpoint();
    client = secretsManagerClient(secretsManager);
    writeFileSync(
      providers,
      JSON.stringify({
        providers: [
          {
            id: 'posted',
            tokenEndpoint: 'https://idp.example/token',
            clientAuth: 'client_secret_post',
            secretId: 'tvm/posted',
          },
          {
            id: 'signed',
            tokenEndpoint: 'https://idp.example/token',
            clientAuth: 'private_key_jwt',
            secretId: 'tvm/signed',
          },
        ],
      }),
    );
  });

  afterAll(async () => {
    client.destroy();
    await secretsManager.close();
  });

  const put = async (provider: string, secret: unknown) => {
    const file = join(dir, `${provider}-${Math.random()}.json`);
    writeFileSync(file, typeof secret === 'string' ? secret : JSON.stringify(secret));
    const out: string[] = [];
    const code = await runAdmin(
      ['secret', 'put', provider, '--file', file, '--providers', providers],
      { stdout: (text) => out.push(text), stderr: (text) => out.push(text) },
      { secretsManager: () => client },
    );
    return { code, output: out.join('') };
  };

  it('writes a secret that fits the provider, and prints no part of it', async () => {
    const result = await put('posted', { client_id: 'posted-client', client_secret: 'hunter2-posted' });
    assert.equal(result.code, 0, result.output);
    assert.deepEqual(JSON.parse(secretsManager.secretValue('tvm/posted') ?? '{}').client_id, 'posted-client');
    assert.ok(!result.output.includes('hunter2'));
    const signed = await put('signed', { client_id: 'signed-client', private_key: pem, key_id: 'k1' });
    assert.equal(signed.code, 0, signed.output);
    assert.ok(!signed.output.includes('PRIVATE KEY'));
  });

  it('refuses, before writing, a secret that does not fit: and says why without quoting it', async () => {
    const before = secretsManager.writes.length;
    const cases: Array<[string, unknown, RegExp]> = [
      [
        'signed',
        { client_id: 'c', client_secret: 'hunter2-wrong-kind' },
        /signed uses private_key_jwt .* no private_key/,
      ],
      [
        'signed',
        { client_id: 'c', private_key: 'not a key hunter2', key_id: 'k1' },
        /not a usable RS256 private key/,
      ],
      ['signed', { client_id: 'c', private_key: pem }, /needs key_id/],
      ['posted', { client_id: 'c', password: 'hunter2-password' }, /found: client_id, password/],
      ['posted', '{"client_id": "c", "client_secret": "hunter2-cut', /not JSON/],
    ];
    for (const [provider, secret, reason] of cases) {
      const result = await put(provider, secret);
      assert.equal(result.code, 1, JSON.stringify(secret));
      assert.match(result.output, reason);
      assert.ok(!result.output.includes('hunter2'), result.output);
      assert.ok(!result.output.includes('PRIVATE KEY'));
    }
    assert.equal(secretsManager.writes.length, before, 'nothing was written');
  });
});
