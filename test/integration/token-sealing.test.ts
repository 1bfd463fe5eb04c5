import assert from 'node:assert/strict';
import { GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { cacheKey } from '../../lambda/cache/cache-key';
import { KmsDataKeys } from '../../lambda/cache/kms-data-keys';
import { EnvelopeSealer, SealError, SealingUnavailableError } from '../../lambda/cache/token-sealer';
import { LocalDataKeys } from '../../local/local-data-keys';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { type KmsEndpoint, kmsClient, startKmsEndpoint } from '../../local/loopback/kms-endpoint';
import { localWrappingKey } from '../../local/sealing';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { assertNothingSensitive, RecordingLog } from '../support/recording-log';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const secrets = { 'tvm/sealed': { client_id: 'sealed-client', client_secret: 'sealed-client-secret' } };

/**
 * Tokens at rest in the table are sealed (envelope encryption, KMS data keys): the raw item holds no token
 * bytes, and a ciphertext moved to another key's item, or given another lifetime, is a logged miss.
 */
describe('Sealed tokens in the table', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let kms: KmsEndpoint;
  const log = new RecordingLog();
  const services: TestService[] = [];
  const issued: string[] = [];

  const entry = (id: string) => ({
    id,
    tokenEndpoint: provider.tokenEndpoint,
    clientAuth: 'client_secret_post',
    secretId: 'tvm/sealed',
    callers: [ORDERS_ROLE],
  });
  const keyOf = (providerId: string) =>
    cacheKey({ providerId, tokenEndpoint: provider.tokenEndpoint, clientId: 'sealed-client', scopes: [] });
  const rawItem = async (key: string) =>
    (
      await table.client.send(
        new GetItemCommand({ TableName: table.tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
      )
    ).Item;
  const instance = async (providers: Record<string, unknown>[]) => {
    const service = await startTestService({ providers, secrets, table, log });
    services.push(service);
    return service;
  };

  beforeAll(async () => {
    [provider, table, kms] = await Promise.all([startFakeProvider(), createTestTable(), startKmsEndpoint()]);
    provider.setBehaviour((_request, index) => grant(`sealed-token-${index}-${'x'.repeat(40)}`));
  });

  afterAll(async () => {
    await Promise.all(services.map((service) => service.close()));
    await Promise.all([provider.close(), table.dispose(), kms.close()]);
  });

  it('stores no token bytes in the item, and another instance opens it', async () => {
    const [first, second] = [await instance([entry('alpha')]), await instance([entry('alpha')])];
    const vended = await first.vend('alpha');
    assert.equal(vended.status, 200);
    const token = String(vended.json.access_token);
    issued.push(token);
    const item = await rawItem(keyOf('alpha'));
    assert.ok(item?.sealed?.B, 'the item holds a sealed token');
    assert.equal(item?.accessToken, undefined);
    const raw = JSON.stringify(item, (_key, value) =>
      value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value,
    );
    assert.ok(!raw.includes(token), 'the token is nowhere in the item');
    assert.ok(!raw.includes(token.slice(0, 16)), 'not even in part');
    const before = provider.requests.length;
    const fromTable = await second.vend('alpha');
    assert.equal(fromTable.json.access_token, token);
    assert.equal(provider.requests.length, before, 'the second instance opened the sealed token');
  });

  it("treats a ciphertext moved onto another key's item as a logged miss, never served", async () => {
    const service = await instance([entry('bravo'), entry('charlie')]);
    const bravo = await service.vend('bravo');
    issued.push(String(bravo.json.access_token));
    const stolen = await rawItem(keyOf('bravo'));
    assert.ok(stolen);
    // A principal that can write the table plants bravo's sealed token under charlie's key.
    await table.client.send(
      new PutItemCommand({ TableName: table.tableName, Item: { ...stolen, pk: { S: keyOf('charlie') } } }),
    );
    const cold = await instance([entry('bravo'), entry('charlie')]);
    const before = provider.requests.length;
    const charlie = await cold.vend('charlie');
    assert.equal(charlie.status, 200);
    assert.notEqual(charlie.json.access_token, bravo.json.access_token);
    assert.equal(provider.requests.length - before, 1, 'a miss: the provider was asked');
    issued.push(String(charlie.json.access_token));
    assert.ok(log.entries().some((line) => line.event === 'sealed_token_rejected'));
  });

  it('does not open a token whose expiry was moved on the item', async () => {
    const service = await instance([entry('delta')]);
    const delta = await service.vend('delta');
    issued.push(String(delta.json.access_token));
    await table.client.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: { pk: { S: keyOf('delta') } },
        UpdateExpression: 'SET expiresAt = expiresAt + :day',
        ExpressionAttributeValues: { ':day': { N: '86400' } },
      }),
    );
    const cold = await instance([entry('delta')]);
    const again = await cold.vend('delta');
    assert.notEqual(again.json.access_token, delta.json.access_token);
    issued.push(String(again.json.access_token));
  });

  it('does not serve a token written in the clear (an item of before sealing, or a planted one)', async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    await table.client.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: {
          pk: { S: keyOf('echo') },
          accessToken: { S: 'planted-in-the-clear' },
          issuedAt: { N: String(nowSeconds) },
          expiresAt: { N: String(nowSeconds + 3600) },
          version: { S: 'planted' },
          provider: { S: 'echo' },
        },
      }),
    );
    const service = await instance([entry('echo')]);
    const vended = await service.vend('echo');
    assert.notEqual(vended.json.access_token, 'planted-in-the-clear');
    issued.push(String(vended.json.access_token));
    assert.equal((await rawItem(keyOf('echo')))?.accessToken, undefined, 'the clear-text token is gone');
  });

  it('with KMS: one data key seals many tokens, one Decrypt per container opens them, and a provider cannot open another provider data key', async () => {
    const client = kmsClient(kms);
    try {
      const sealer = () => new EnvelopeSealer({ dataKeys: new KmsDataKeys({ client, keyId: kms.keyId }) });
      const writer = sealer();
      const token = (n: number) => ({ accessToken: `kms-token-${n}`, issuedAt: 1, expiresAt: 4_000_000_000 });
      const sealed = await Promise.all(
        Array.from({ length: 50 }, (_, n) =>
          writer.seal(token(n), { key: `k${n}`, providerId: 'kms', generation: 1 }),
        ),
      );
      assert.equal(kms.calls.filter((call) => call === 'GenerateDataKey').length, 1);
      const reader = sealer();
      for (const [n, ciphertext] of sealed.entries()) {
        const opened = await reader.open(ciphertext, token(n), {
          key: `k${n}`,
          providerId: 'kms',
          generation: 1,
        });
        assert.equal(opened.accessToken, `kms-token-${n}`);
      }
      assert.equal(kms.calls.filter((call) => call === 'Decrypt').length, 1);
      await assert.rejects(
        reader.open(sealed[0] ?? new Uint8Array(), token(0), {
          key: 'k0',
          providerId: 'other-provider',
          generation: 1,
        }),
        (error: unknown) => error instanceof SealError,
      );
    } finally {
      client.destroy();
    }
  });

  it('stops sealing and opening in every container within 5 minutes of the KMS key being disabled', async () => {
    const client = kmsClient(kms);
    let clock = 1_000_000;
    const now = () => clock;
    try {
      const container = () =>
        new EnvelopeSealer({ dataKeys: new KmsDataKeys({ client, keyId: kms.keyId }), now });
      const [writer, reader] = [container(), container()];
      const token = { accessToken: 'revocable', issuedAt: 1, expiresAt: 4_000_000_000 };
      const context = { key: 'k-revoke', providerId: 'kms', generation: 1 };
      const sealed = await writer.seal(token, context);
      assert.equal((await reader.open(sealed, token, context)).accessToken, 'revocable');
      kms.setDisabled(true);
      // Inside the bound, the keys each container already holds still serve.
      clock += 5 * 60_000 - 1;
      assert.equal((await reader.open(sealed, token, context)).accessToken, 'revocable');
      assert.equal((await writer.open(sealed, token, context)).accessToken, 'revocable');
      await writer.seal(token, context);
      // Past it, both ask KMS again, and KMS refuses.
      clock += 1;
      // The key service's refusal, reported as the key service being unavailable (not as a planted token).
      const refused = (error: unknown) =>
        error instanceof SealingUnavailableError &&
        (error.cause as { name?: string }).name === 'DisabledException';
      await assert.rejects(reader.open(sealed, token, context), refused);
      await assert.rejects(writer.open(sealed, token, context), refused);
      await assert.rejects(writer.seal(token, context), refused);
      kms.setDisabled(false);
      assert.equal((await reader.open(sealed, token, context)).accessToken, 'revocable');
    } finally {
      kms.setDisabled(false);
      client.destroy();
    }
  });

  it('asks for the next data key ahead, while the current one still seals: no seal at a rollover waits on the key service', async () => {
    // The local stand-in for KMS, its second key held back until the test lets it go.
    const local = new LocalDataKeys(localWrappingKey());
    let release: () => void = () => undefined;
    const heldBack = new Promise<void>((resolve) => {
      release = resolve;
    });
    let generated = 0;
    const dataKeys = {
      generate: async (context: Readonly<Record<string, string>>) => {
        generated += 1;
        if (generated > 1) await heldBack;
        return local.generate(context);
      },
      unwrap: (wrapped: Uint8Array, context: Readonly<Record<string, string>>) =>
        local.unwrap(wrapped, context),
    };
    const sealer = new EnvelopeSealer({ dataKeys, dataKeyMaxUses: 10 });
    const token = { accessToken: 'rolled', issuedAt: 1, expiresAt: 4_000_000_000 };
    const context = { key: 'k-ahead', providerId: 'ahead', generation: 1 };
    const wrappedKeyOf = (sealed: Uint8Array) => {
      const bytes = Buffer.from(sealed);
      return bytes.subarray(3, 3 + bytes.readUInt16BE(1)).toString('base64');
    };
    const first: string[] = [];
    // Ten seals on the first key; past eight of them its successor is asked for, and held back: the
    // ninth and tenth still complete on the first key.
    for (let n = 0; n < 10; n++) first.push(wrappedKeyOf(await sealer.seal(token, context)));
    assert.equal(new Set(first).size, 1);
    assert.equal(generated, 2, 'the successor was asked for ahead');
    release();
    const eleventh = wrappedKeyOf(await sealer.seal(token, context));
    assert.notEqual(eleventh, first[0]);
    assert.equal(generated, 2, 'the eleventh seal took the successor, asked for no other');
    assert.equal(
      (await new EnvelopeSealer({ dataKeys: local }).open(await sealer.seal(token, context), token, context))
        .accessToken,
      'rolled',
    );
  });

  it("gets a container's first data key while the provider is asked, not after: the seal finds it ready", async () => {
    const local = new LocalDataKeys(localWrappingKey());
    let generated = 0;
    const sealer = new EnvelopeSealer({
      dataKeys: {
        generate: (context) => {
          generated += 1;
          return local.generate(context);
        },
        unwrap: (wrapped, context) => local.unwrap(wrapped, context),
      },
    });
    const service = await startTestService({ providers: [entry('foxtrot')], secrets, table, log, sealer });
    services.push(service);
    const seenByProvider: number[] = [];
    provider.setBehaviour((_request, index) => {
      seenByProvider.push(generated);
      return grant(`sealed-token-${index}-${'x'.repeat(40)}`);
    });
    const vended = await service.vend('foxtrot');
    assert.equal(vended.status, 200, vended.text);
    issued.push(String(vended.json.access_token));
    assert.deepEqual(seenByProvider, [1], 'the data key was asked for before the provider answered');
    assert.equal(generated, 1, 'and that one key sealed the token');
    assert.ok((await rawItem(keyOf('foxtrot')))?.sealed?.B);
  });

  it('logs no token or secret', () => {
    assertNothingSensitive(log.lines, ['sealed-client-secret', ...issued]);
  });
});
