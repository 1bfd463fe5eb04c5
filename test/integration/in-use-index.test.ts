import assert from 'node:assert/strict';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { IN_USE_ITEM } from '../../lambda/contracts/token-table';
import { DynamoDbInUseIndex } from '../../lambda/refresh/dynamodb-in-use-index';
import { INDEX_SHARDS, type InUseMark } from '../../lambda/refresh/in-use-index';
import { createTestTable, type TestTable } from '../support/dynamodb';

const PERIOD_S = 60;
const BUCKET = 1_800_000_000;

const mark = (index: number): InUseMark => ({
  key: `key-${index}`,
  providerId: 'spill',
  scopes: ['read'],
  principal: `sealed-${index}`,
  inUseUntil: BUCKET + 3600,
  renewAt: BUCKET + (index % PERIOD_S),
  expiresAt: BUCKET + 1800,
  tag: 'AAAAAAAAAAAAAAAAAAAAAA',
});

/**
 * The in-use index's layout grows with the keys (issue 30 item 3): on DynamoDB Local, with items that take
 * a few marks each, every mark written is read back and no item holds more than its bound.
 */
describe('DynamoDbInUseIndex: a shard spills into further items instead of growing towards 400 KB', () => {
  let table: TestTable;

  beforeAll(async () => {
    table = await createTestTable();
  });

  afterAll(async () => {
    await table.dispose();
  });

  it('keeps every item at its bound and reads back every mark of a bucket far larger than one item', async () => {
    const marksPerItem = 3;
    const writers = [0, 1].map(
      () =>
        new DynamoDbInUseIndex({
          client: table.client,
          tableName: table.tableName,
          periodSeconds: PERIOD_S,
          marksPerItem,
          // A shared machine's DynamoDB Local under 8 writers at once: a bound a loaded JVM meets.
          callTimeoutMs: 10_000,
        }),
    );
    // 200 marks in one bucket over 32 shards, from two writers (containers) at once: ~6 per shard, 2+ items each.
    const marks = Array.from({ length: 200 }, (_, index) => mark(index));
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, lane) => {
        for (let at = next++; at < marks.length; at = next++) {
          await writers[lane % 2]?.mark(marks[at] as InUseMark);
        }
      }),
    );
    const { Items = [] } = await table.client.send(new ScanCommand({ TableName: table.tableName }));
    const items = Items.filter((item) => item.pk?.S?.startsWith(IN_USE_ITEM.keyPrefix));
    for (const item of items) {
      assert.ok((item[IN_USE_ITEM.marks]?.SS?.length ?? 0) <= marksPerItem, String(item.pk?.S));
    }
    assert.ok(items.length >= 200 / marksPerItem, `${items.length} items`);
    const reader = new DynamoDbInUseIndex({
      client: table.client,
      tableName: table.tableName,
      periodSeconds: PERIOD_S,
      marksPerItem,
      callTimeoutMs: 10_000,
    });
    const due = await reader.due(BUCKET - 1, BUCKET + PERIOD_S - 1);
    assert.equal(due.malformed, 0);
    assert.deepEqual(due.marks.map((read) => read.key).sort(), marks.map((written) => written.key).sort());
    // A mark written again (a retry after a timeout) lands in its shard's open item: read back, the same key.
    await writers[0]?.mark(marks[0] as InUseMark);
    const again = await reader.due(BUCKET - 1, BUCKET + PERIOD_S - 1);
    assert.equal(new Set(again.marks.map((read) => read.key)).size, 200);
  });

  it('spreads a bucket over its shards', () => {
    assert.equal(INDEX_SHARDS, 32);
  });

  it('keeps the watermark of planned renewals moving forward only', async () => {
    const index = new DynamoDbInUseIndex({
      client: table.client,
      tableName: table.tableName,
      periodSeconds: PERIOD_S,
    });
    assert.equal(await index.plannedUntil(), undefined);
    await index.planned(BUCKET + 70);
    await index.planned(BUCKET + 10);
    assert.equal(await index.plannedUntil(), BUCKET + 70);
  });
});
