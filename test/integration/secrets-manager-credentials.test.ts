import assert from 'node:assert/strict';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerCredentialSource } from '../../lambda/credentials/secrets-manager-credential-source';
import { ConfigurationError } from '../../lambda/errors';
import { grant, startFakeProvider } from '../../local/loopback/fake-provider';
import {
  type SecretsManagerEndpoint,
  secretsManagerClient,
  startSecretsManagerEndpoint,
} from '../support/secrets-manager-endpoint';
import { ORDERS_ROLE, startTestService } from '../support/test-service';

/** The real SDK client and Powertools SecretsProvider against a loopback Secrets Manager endpoint. */
describe('Class: SecretsManagerCredentialSource', () => {
  let secretsManager: SecretsManagerEndpoint;
  let client: SecretsManagerClient;

  beforeAll(async () => {
    secretsManager = await startSecretsManagerEndpoint();
    client = secretsManagerClient(secretsManager);
  });

  afterAll(async () => {
    client.destroy();
    await secretsManager.close();
  });

  it('reads a client-secret document and caches it for maxAge', async () => {
    secretsManager.setSecret('tvm/a', JSON.stringify({ client_id: 'a-client', client_secret: 'a-secret' }));
    const source = new SecretsManagerCredentialSource({ client, maxAgeSeconds: 300 });
    const first = await source.get('tvm/a');
    const second = await source.get('tvm/a');
    assert.deepEqual(first, { clientId: 'a-client', clientSecret: 'a-secret' });
    assert.deepEqual(second, first);
    assert.equal(secretsManager.reads.filter((id) => id === 'tvm/a').length, 1);
  });

  it('reads the secret afresh after invalidate, so a rotated secret is picked up', async () => {
    secretsManager.setSecret('tvm/b', JSON.stringify({ client_id: 'b-client', client_secret: 'old' }));
    const source = new SecretsManagerCredentialSource({ client });
    await source.get('tvm/b');
    secretsManager.setSecret('tvm/b', JSON.stringify({ client_id: 'b-client', client_secret: 'new' }));
    assert.deepEqual(await source.get('tvm/b'), { clientId: 'b-client', clientSecret: 'old' });
    source.invalidate('tvm/b');
    assert.deepEqual(await source.get('tvm/b'), { clientId: 'b-client', clientSecret: 'new' });
  });

  it('reads a private-key document with its key id', async () => {
    secretsManager.setSecret('tvm/c', JSON.stringify({ client_id: 'c', private_key: 'PEM', key_id: 'k1' }));
    assert.deepEqual(await new SecretsManagerCredentialSource({ client }).get('tvm/c'), {
      clientId: 'c',
      privateKey: 'PEM',
      keyId: 'k1',
    });
  });

  it('names a missing secret without failing obscurely', async () => {
    await assert.rejects(
      new SecretsManagerCredentialSource({ client }).get('tvm/missing'),
      (error: unknown) =>
        error instanceof ConfigurationError && /tvm\/missing.*ResourceNotFoundException/.test(error.message),
    );
  });

  it('refuses a malformed secret without quoting it', async () => {
    secretsManager.setSecret('tvm/bad-json', '{"client_id":"x","client_secret":"hunter2-secret');
    secretsManager.setSecret('tvm/bad-shape', JSON.stringify({ client_id: 'x', password: 'hunter3-secret' }));
    for (const id of ['tvm/bad-json', 'tvm/bad-shape']) {
      await assert.rejects(new SecretsManagerCredentialSource({ client }).get(id), (error: unknown) => {
        assert.ok(error instanceof ConfigurationError);
        assert.ok(error.message.includes(id));
        assert.ok(!/hunter/.test(error.message), error.message);
        return true;
      });
    }
  });

  it('rotating a secret that the provider then rejects is recovered from on the next vend', async () => {
    const provider = await startFakeProvider((request, index) =>
      request.params.client_secret === 'rotated-secret'
        ? grant(`rotated-token-${index}`)
        : { status: 401, body: { error: 'invalid_client' } },
    );
    secretsManager.setSecret('tvm/rotating', JSON.stringify({ client_id: 'r', client_secret: 'old-secret' }));
    const service = await startTestService({
      providers: [
        {
          id: 'rotating',
          tokenEndpoint: provider.tokenEndpoint,
          clientAuth: 'client_secret_post',
          secretId: 'tvm/rotating',
          callers: [ORDERS_ROLE],
        },
      ],
      credentials: new SecretsManagerCredentialSource({ client }),
    });
    try {
      const rejected = await service.vend('rotating');
      assert.equal(rejected.json.upstream_error, 'invalid_client');
      secretsManager.setSecret(
        'tvm/rotating',
        JSON.stringify({ client_id: 'r', client_secret: 'rotated-secret' }),
      );
      const vended = await service.vend('rotating');
      assert.equal(vended.status, 200, vended.text);
    } finally {
      await service.close();
      await provider.close();
    }
  });
});
