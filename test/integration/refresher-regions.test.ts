import assert from 'node:assert/strict';
import { KmsDataKeys } from '../../lambda/cache/kms-data-keys';
import { EnvelopeSealer } from '../../lambda/cache/token-sealer';
import type { TableRegions } from '../../lambda/contracts/region-owned-items';
import { type FakeProvider, grant, startFakeProvider } from '../../local/loopback/fake-provider';
import {
  type KmsEndpoint,
  kmsClient,
  multiRegionKey,
  startKmsEndpoint,
} from '../../local/loopback/kms-endpoint';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { RecordingLog } from '../support/recording-log';
import { deliver, type RecordedTable, recordWrites } from '../support/replication';
import { ORDERS_ROLE, startTestService, type TestService } from '../support/test-service';

const NORTH: TableRegions = { own: 'eu-north-1', peers: ['eu-west-1'] };
const WEST: TableRegions = { own: 'eu-west-1', peers: ['eu-north-1'] };
const LIFETIME_S = 300;

/**
 * Two regions renewing one key their callers both use (issue 28 item 6): each region's tables in DynamoDB
 * Local, replicated every second by the stand-in, a stepped clock, and each region's refresher run and
 * renewal deliveries. The first region by name renews 5 s earlier; the other reads its replicated token and
 * leaves the key alone, so the provider sees one renewal per lifetime, not one per region.
 */
describe('Refresher in two regions: one renewal per lifetime, not one per region', () => {
  let provider: FakeProvider;
  let north: TestTable;
  let west: TestTable;
  let kmsNorth: KmsEndpoint;
  let kmsWest: KmsEndpoint;
  const open: TestService[] = [];
  let clock = Date.now();
  let tokenSeq = 0;

  beforeAll(async () => {
    const key = multiRegionKey();
    [provider, north, west, kmsNorth, kmsWest] = await Promise.all([
      startFakeProvider(),
      createTestTable(),
      createTestTable(),
      startKmsEndpoint(undefined, { region: NORTH.own, key }),
      startKmsEndpoint(undefined, { region: WEST.own, key }),
    ]);
    provider.setBehaviour(() => grant(`regional-${++tokenSeq}`, { expires_in: LIFETIME_S }));
  });

  afterAll(async () => {
    await Promise.all(open.map((instance) => instance.close()));
    await Promise.all([provider.close(), north.dispose(), west.dispose(), kmsNorth.close(), kmsWest.close()]);
  });

  it('asks the provider about once per lifetime for a key both regions use', async () => {
    const providerEntry = {
      id: 'regional',
      tokenEndpoint: provider.tokenEndpoint,
      clientAuth: 'client_secret_post',
      secretId: 'tvm/regional',
      callers: [ORDERS_ROLE],
      refreshMarginSeconds: 60,
      timeoutMs: 2000,
    };
    const northRecorded: RecordedTable = recordWrites(north);
    const westRecorded: RecordedTable = recordWrites(west);
    const start = async (regions: TableRegions, table: TestTable, kms: KmsEndpoint) => {
      const started = await startTestService({
        providers: [providerEntry],
        secrets: { 'tvm/regional': { client_id: 'regional-client', client_secret: 'regional-secret' } },
        table,
        regions,
        sealer: new EnvelopeSealer({
          dataKeys: new KmsDataKeys({ client: kmsClient(kms), keyId: kms.keyId }),
        }),
        log: new RecordingLog(),
        now: () => clock,
        refreshPeriodSeconds: 60,
      });
      open.push(started);
      return started;
    };
    const inNorth = await start(NORTH, northRecorded.table, kmsNorth);
    const inWest = await start(WEST, westRecorded.table, kmsWest);
    const before = provider.requests.length;
    const lifetimes = 4;
    for (let second = 0; second < lifetimes * LIFETIME_S; second += 1) {
      clock += 1000;
      if (second % 60 === 0) {
        await inNorth.refresher.refreshDueKeys(clock);
        await inWest.refresher.refreshDueKeys(clock);
      }
      await inNorth.refresher.deliverRenewals();
      await inWest.refresher.deliverRenewals();
      // Replication about a second behind, in both directions.
      await deliver(northRecorded, west);
      await deliver(westRecorded, north);
      if (second % 10 === 0) {
        for (const instance of [inNorth, inWest]) {
          assert.equal((await instance.vend(providerEntry.id)).status, 200);
        }
      }
    }
    const requests = provider.requests.length - before;
    // The first vend in each region may fetch its own (nothing replicated yet); after that one renewal per
    // lifetime for both regions together (at 175–205 s of each 300 s token): 4 lifetimes take ~5–8.
    assert.ok(requests <= 2 + Math.ceil((lifetimes * LIFETIME_S) / 175), `${requests} upstream requests`);
    await Promise.all([northRecorded.table.dispose(), westRecorded.table.dispose()]);
  });
});
