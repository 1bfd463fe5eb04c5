import assert from 'node:assert/strict';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TableRegions } from '../../lambda/contracts/region-owned-items';
import { type FaultProxy, startFaultProxy } from '../../local/fault-proxy';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import { type KmsEndpoint, startKmsEndpoint } from '../../local/loopback/kms-endpoint';
import { EVICT_OUTCOME_HEADER, tokenFingerprint } from '../../packages/client/src/wire-contract';
import { createTestTable, type TestTable, tableThrough } from '../support/dynamodb';
import { kmsSealerAt } from '../support/kms-sealer';
import { RecordingLog } from '../support/recording-log';
import { deliver, recordWrites } from '../support/replication';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const SECRETS = { 'tvm/evict-faults': { client_id: 'evict-faults', client_secret: 'evict-faults-secret' } };
const NORTH: TableRegions = { own: 'eu-north-1', peers: ['eu-west-1'] };
const WEST: TableRegions = { own: 'eu-west-1', peers: ['eu-north-1'] };
/** Past every container's memory of a token and every lease taken here: each vend reads the table again. */
const PAST_MEMORY_MS = 61_000;

/** Which table call of one container fails once: its lease, its token write, its read or its evict. */
type TableCall = 'lease' | 'token write' | 'read' | 'evict';

/**
 * A FAULT INJECTION: the table through a client of its own whose next call of one kind fails with a 500
 * (`InternalServerError`, a server fault) before it is sent. DynamoDB Local never answers 500 on its own,
 * and a single failing call is what a container meets in a real table's bad second.
 */
function failingOnce(table: TestTable): { table: TestTable; failNext(call: TableCall): void } {
  const armed = new Set<TableCall>();
  const kindOf = (command: string | undefined, values: Record<string, unknown>): TableCall | undefined => {
    if (command === 'GetItemCommand' || command === 'BatchGetItemCommand') return 'read';
    if (command !== 'UpdateItemCommand') return undefined;
    if (':leaseUntil' in values) return 'lease';
    if (':sealed' in values) return 'token write';
    // An evict's claim (its first write) or the evict itself.
    if (':evictClaim' in values || ':evictedBy' in values) return 'evict';
    return undefined;
  };
  const through = tableThrough(table, (client: DynamoDBClient) =>
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { ExpressionAttributeValues?: Record<string, unknown> };
        const call = kindOf(context.commandName, input.ExpressionAttributeValues ?? {});
        if (call !== undefined && armed.delete(call)) {
          throw Object.assign(new Error('We encountered an internal error. Please try again.'), {
            name: 'InternalServerError',
            $fault: 'server',
            $metadata: { httpStatusCode: 500 },
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'injectTable500' },
    ),
  );
  return { table: through, failNext: (call) => armed.add(call) };
}

/**
 * An evict stays an evict through every fault: a token a container kept for itself while the table or the
 * key service failed is never written back over an evicted item, and what an evict answers is the table's.
 * Real parts throughout: DynamoDB Local, the loopback KMS behind a fault proxy, several services on one
 * table, real SigV4; only the single table 500 is injected (see {@link failingOnce}). One clock for all
 * services, moved by the test: memory ages and leases lapse without waiting.
 */
describe('An evict during a table or KMS fault', () => {
  let provider: FakeProvider;
  let table: TestTable;
  let kms: KmsEndpoint;
  let kmsProxy: FaultProxy;
  const open: Array<{ close(): Promise<void> }> = [];
  let providerSeq = 0;
  let clock = Date.now();
  const now = () => clock;

  beforeAll(async () => {
    [provider, table, kms] = await Promise.all([
      startFakeProvider((_request, index) => grant(`evict-faults-${index}`)),
      createTestTable(),
      startKmsEndpoint(),
    ]);
    kmsProxy = await startFaultProxy(kms.endpoint);
  });

  afterEach(() => kmsProxy.set({ kind: 'pass' }));

  afterAll(async () => {
    for (const service of open) await service.close();
    await kmsProxy.close();
    await Promise.all([provider.close(), table.dispose(), kms.close()]);
  });

  const entry = () => {
    providerSeq += 1;
    return {
      id: `evf-${providerSeq}`,
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/evict-faults',
      callers: [ORDERS_ROLE],
      timeoutMs: 1000,
    };
  };

  /** A sealer of its own on the loopback KMS through the fault proxy: no data key cached yet. */
  const kmsSealer = () => kmsSealerAt(kmsProxy.endpoint, kms);

  async function service(
    providerEntry: Record<string, unknown>,
    through: TestTable,
    options: { regions?: TableRegions; kms?: boolean } = {},
  ): Promise<TestService> {
    const started = await startTestService({
      providers: [providerEntry],
      secrets: SECRETS,
      table: through,
      log: new RecordingLog(),
      now,
      ...(options.regions ? { regions: options.regions } : {}),
      ...(options.kms ? { sealer: kmsSealer() } : {}),
    });
    open.push(started);
    return started;
  }

  const outcome = (response: { headers: Headers }) => response.headers.get(EVICT_OUTCOME_HEADER);
  const tokenOf = (response: { json: Record<string, unknown> }) => String(response.json.access_token);

  type Fault = 'table 500 on the lease' | 'table 500 on the token write' | 'KMS refusing the seal';
  const faults: Array<[Fault, TableRegions | undefined]> = [
    ['table 500 on the lease', undefined],
    ['table 500 on the token write', undefined],
    ['KMS refusing the seal', undefined],
    ['table 500 on the lease', NORTH],
    ['table 500 on the token write', NORTH],
  ];

  it.each(faults)(
    'a token kept through a %s (regions: %j) is written back once, and never over the item its evict left',
    async (fault, regions) => {
      const providerEntry = entry();
      const faulty = failingOnce(table);
      const kmsToo = fault === 'KMS refusing the seal';
      const a = await service(providerEntry, faulty.table, { ...(regions ? { regions } : {}), kms: kmsToo });
      const b = await service(providerEntry, table, { ...(regions ? { regions } : {}), kms: kmsToo });
      if (fault === 'table 500 on the lease') faulty.failNext('lease');
      if (fault === 'table 500 on the token write') faulty.failNext('token write');
      if (kmsToo) kmsProxy.set({ kind: 'refuse' });
      const before = provider.requests.length;

      const kept = tokenOf(await a.vend(providerEntry.id));
      kmsProxy.set({ kind: 'pass' });
      // The table answers again (the lease and the key service's window have lapsed): the kept token goes
      // back to the table, so the other container is served it without asking the provider.
      clock += PAST_MEMORY_MS;
      assert.equal(tokenOf(await a.vend(providerEntry.id)), kept);
      assert.equal(tokenOf(await b.vend(providerEntry.id)), kept);
      assert.equal(provider.requests.length - before, 1, 'one upstream request for the key');

      const evicted = await b.evict(providerEntry.id, { token_fingerprint: tokenFingerprint(kept) });
      assert.equal(evicted.status, 204, evicted.text);
      assert.equal(outcome(evicted), 'evicted');
      clock += PAST_MEMORY_MS;
      for (const instance of [a, b, a, b]) {
        const vended = await instance.vend(providerEntry.id);
        assert.equal(vended.status, 200, vended.text);
        assert.notEqual(tokenOf(vended), kept, 'the evicted token is served again');
      }
      assert.equal(provider.requests.length - before, 2, 'one renewal after the evict');
    },
  );

  it('answers 503 when the table cannot be read or written for the evict, and the table decides once it answers', async () => {
    const providerEntry = entry();
    const faulty = failingOnce(table);
    const a = await service(providerEntry, faulty.table);
    const b = await service(providerEntry, table);
    // The lease fails once: `a` fetches under its own tier's lease, keeps the token and gives it to the table.
    faulty.failNext('lease');
    const kept = tokenOf(await a.vend(providerEntry.id));
    assert.equal(tokenOf(await b.vend(providerEntry.id)), kept);
    const named = { token_fingerprint: tokenFingerprint(kept) };

    for (const call of ['read', 'evict'] as const) {
      faulty.failNext(call);
      const refused = await a.evict(providerEntry.id, named);
      assert.equal(refused.status, 503, `with the ${call} failing: ${refused.status} ${outcome(refused)}`);
      assert.equal(refused.json.error, 'service_unavailable');
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      // Nothing was evicted: the table still serves the token everywhere.
      assert.equal(tokenOf(await b.vend(providerEntry.id)), kept);
    }

    const evicted = await a.evict(providerEntry.id, named);
    assert.equal(evicted.status, 204, evicted.text);
    assert.equal(outcome(evicted), 'evicted');
    clock += PAST_MEMORY_MS;
    for (const instance of [b, a]) assert.notEqual(tokenOf(await instance.vend(providerEntry.id)), kept);
  });

  it("with regions, a kept own token is not written back over a peer token's evict that covers it", async () => {
    const providerEntry = entry();
    const northTable = failingOnce(table);
    const westTable = recordWrites(await createTestTable());
    open.push({ close: () => westTable.table.dispose() });
    const a = await service(providerEntry, northTable.table, { regions: NORTH });
    const b = await service(providerEntry, table, { regions: NORTH });
    const west = await service(providerEntry, westTable.table, { regions: WEST });

    // North: `a` fetches while its token write fails, and keeps its token (no lease or token left on the item).
    northTable.failNext('token write');
    const kept = tokenOf(await a.vend(providerEntry.id));
    // West fetches a token of its own, issued later, and it reaches the north.
    clock += 1000;
    const westToken = tokenOf(await west.vend(providerEntry.id));
    assert.ok((await deliver(westTable, table)) > 0);
    clock += PAST_MEMORY_MS;
    const northServed = await b.vend(providerEntry.id);
    assert.equal(tokenOf(northServed), westToken, "the north serves the west's longer-lived token");
    // The north evicts the west's token: every token of the key issued no later stops being served here.
    const evicted = await b.evict(providerEntry.id, { token_fingerprint: tokenFingerprint(westToken) });
    assert.equal(outcome(evicted), 'evicted');
    clock += PAST_MEMORY_MS;
    for (const instance of [a, b]) {
      const vended = tokenOf(await instance.vend(providerEntry.id));
      assert.notEqual(vended, kept, 'a token issued before the evicted one is served in the north');
      assert.notEqual(vended, westToken);
    }
  });
});
