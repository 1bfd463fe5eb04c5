import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSettings } from '../../local/local-config';
import { type LocalService, startLocalService } from '../../local/local-service';
import { type FakeProvider, startFakeProvider } from '../../local/loopback/fake-provider';
import type { CallerKey } from '../../local/sigv4-verifier';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';
import { signedFetch } from '../support/sigv4-client';
import { ORDERS, OUTSIDER, startTestService, type TestService } from '../support/test-service';

const PARTNER_ROLE = 'arn:aws:iam::999988887777:role/someone-else';

/** GetFederationToken sessions of one IAM user of the stack's account, each under a name of its choosing. */
const FEDERATED: CallerKey[] = Array.from({ length: 5 }, (_, index) => ({
  accessKeyId: `AKIAFEDERATED0000${index}00`,
  secretAccessKey: `federated-secret-${index}`,
  principalArn: `arn:aws:sts::111122223333:federated-user/name-${index}`,
}));

/**
 * A `"*"` entry admits the stack's own account (or the settings' `allowedAccounts`), in the function itself:
 * the API's resource policy is one layer, not the only one (issue 29, items 1 and 5).
 */
describe('A "*" provider, through the local gateway with real SigV4', () => {
  let provider: FakeProvider;
  const providers = (tokenEndpoint: string) => [
    {
      id: 'internal',
      tokenEndpoint,
      clientAuth: 'client_secret_basic',
      secretId: 'tvm/internal',
      callers: ['*'],
    },
    {
      id: 'partner-only',
      tokenEndpoint,
      clientAuth: 'client_secret_basic',
      secretId: 'tvm/partner',
      callers: [PARTNER_ROLE],
    },
  ];
  const secrets = {
    'tvm/internal': { client_id: 'internal-client', client_secret: 'internal-secret' },
    'tvm/partner': { client_id: 'partner-client', client_secret: 'partner-secret' },
  };
  const start = (anyCallerAccounts?: readonly string[]) =>
    startTestService({
      providers: providers(provider.tokenEndpoint),
      secrets,
      callers: FEDERATED,
      ...(anyCallerAccounts ? { anyCallerAccounts } : {}),
    });

  beforeAll(async () => {
    provider = await startFakeProvider();
  });

  afterAll(async () => {
    await provider.close();
  });

  describe("with the stack's own account (the test service's 111122223333)", () => {
    let service: TestService;
    beforeAll(async () => {
      service = await start();
    });
    afterAll(async () => {
      await service.close();
    });

    it('vends to a role of that account', async () => {
      const response = await service.vend('internal');
      assert.equal(response.status, 200, JSON.stringify(response.json));
    });

    it('is neither listed nor vended to a role of another account named on another provider', async () => {
      const listed = await service.call('GET', '/v1/providers', undefined, OUTSIDER);
      assert.equal(listed.status, 200);
      const ids = (listed.json.providers as Array<{ id: string }>).map((entry) => entry.id);
      assert.deepEqual(ids, ['partner-only']);
      const before = provider.requests.length;
      const vend = await service.vend('internal', undefined, OUTSIDER);
      const unknown = await service.vend('no-such-provider', undefined, OUTSIDER);
      assert.equal(vend.status, 403);
      assert.equal(vend.json.error, 'access_denied');
      // The same answer as for a provider that does not exist: ids cannot be probed.
      assert.equal(vend.json.message, String(unknown.json.message).replace('no-such-provider', 'internal'));
      const evict = await service.evict('internal', { token_fingerprint: '0123456789abcdef' }, OUTSIDER);
      assert.equal(evict.status, 403);
      assert.equal(provider.requests.length, before, 'nothing reached the provider');
    });

    it('refuses GetFederationToken sessions: no name of a session gets a budget of its own', async () => {
      const statuses = new Map<number, number>();
      // 150 vends under 5 names, each asking for a token only a new one can meet.
      for (let round = 0; round < 30; round++) {
        for (const caller of FEDERATED) {
          const response = await service.vend('internal', { min_ttl: 3599 }, caller);
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        }
      }
      assert.deepEqual([...statuses], [[403, 150]]);
      const listed = await service.call('GET', '/v1/providers', undefined, FEDERATED[0]);
      assert.deepEqual(listed.json.providers, []);
      // An unrelated caller of the account is not throttled by what the sessions did.
      const other = await service.vend('internal', { min_ttl: 3599 }, ORDERS);
      assert.equal(other.status, 200, JSON.stringify(other.json));
    });
  });

  describe('with allowedAccounts naming another account', () => {
    let service: TestService;
    beforeAll(async () => {
      service = await start(['999988887777']);
    });
    afterAll(async () => {
      await service.close();
    });

    it('admits that account and no other', async () => {
      assert.equal((await service.vend('internal', undefined, OUTSIDER)).status, 200);
      assert.equal((await service.vend('internal', undefined, ORDERS)).status, 403);
    });
  });
});

describe('A "*" provider in the local run (npm start)', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let local: LocalService;
  const own: CallerKey = {
    accessKeyId: 'AKIALOCALOWN00000001',
    secretAccessKey: 'own-key',
    principalArn: 'arn:aws:iam::000000000000:role/local-dev',
  };
  const foreign: CallerKey = { ...OUTSIDER, principalArn: PARTNER_ROLE };

  beforeAll(async () => {
    [provider, table] = await Promise.all([startFakeProvider(), createTestTable()]);
    const dir = mkdtempSync(join(tmpdir(), 'tvm-any-caller-'));
    const file = (name: string, content: unknown) => {
      writeFileSync(join(dir, name), JSON.stringify(content));
      return join(dir, name);
    };
    const env = {
      TVM_PROVIDERS: file('providers.json', {
        providers: [
          {
            id: 'internal',
            tokenEndpoint: provider.tokenEndpoint,
            clientAuth: 'client_secret_basic',
            secretId: 'tvm/internal',
            callers: ['*'],
          },
          {
            id: 'partner-only',
            tokenEndpoint: provider.tokenEndpoint,
            clientAuth: 'client_secret_basic',
            secretId: 'tvm/partner',
            callers: [PARTNER_ROLE],
          },
        ],
      }),
      TVM_SECRETS: file('secrets.json', {
        'tvm/internal': { client_id: 'i', client_secret: 'internal-secret' },
        'tvm/partner': { client_id: 'p', client_secret: 'partner-secret' },
      }),
      TVM_CALLERS: file('callers.json', [own, foreign]),
      TVM_DYNAMODB_ENDPOINT: table.endpoint,
      TVM_TABLE: table.tableName,
      PORT: '0',
    };
    local = await startLocalService(readSettings(env), new RecordingLog());
  });

  afterAll(async () => {
    await local?.stop();
    await Promise.all([table?.dispose(), provider?.close()]);
  });

  const call = (method: string, path: string, credentials: CallerKey) =>
    signedFetch({ method, url: `${local.gateway.url}${path}`, credentials });

  it("admits the local API's own account (000000000000) and no other", async () => {
    assert.equal((await call('POST', '/v1/tokens/internal', own)).status, 200);
    const refused = await call('POST', '/v1/tokens/internal', foreign);
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error, 'access_denied');
    const listed = await call('GET', '/v1/providers', foreign);
    assert.deepEqual(
      (listed.json.providers as Array<{ id: string }>).map((entry) => entry.id),
      ['partner-only'],
    );
  });

  it('takes other accounts from TVM_ANY_CALLER_ACCOUNTS, and refuses a value that is not account ids', () => {
    assert.deepEqual(
      readSettings({ TVM_ANY_CALLER_ACCOUNTS: '999988887777, 111122223333' }).anyCallerAccounts,
      ['999988887777', '111122223333'],
    );
    assert.throws(() => readSettings({ TVM_ANY_CALLER_ACCOUNTS: '*' }), /12-digit account ids/);
  });
});
