import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  bucketsBetween,
  decodeMark,
  encodeMark,
  type InUseMark,
  latestPerKey,
} from '../../lambda/refresh/in-use-index';

const seconds = fc.integer({ min: 0, max: 4_000_000_000 });
const mark: fc.Arbitrary<InUseMark> = fc.record(
  {
    key: fc.string({ minLength: 1, maxLength: 80 }),
    providerId: fc.string({ minLength: 1, maxLength: 40 }),
    scopes: fc.array(fc.string({ minLength: 1, maxLength: 30 }), { maxLength: 5 }),
    audience: fc.string({ minLength: 1, maxLength: 60 }),
    principal: fc.string({ minLength: 1, maxLength: 100 }),
    inUseUntil: seconds,
    renewAt: seconds,
    expiresAt: seconds,
    tag: fc.string({ minLength: 16, maxLength: 64 }),
  },
  {
    requiredKeys: ['key', 'providerId', 'scopes', 'principal', 'inUseUntil', 'renewAt', 'expiresAt', 'tag'],
  },
);

describe('In-use index marks (read back from a table item anyone with write access could change)', () => {
  it('reads back every mark it writes, exactly', () => {
    fc.assert(
      fc.property(mark, (written) => assert.deepEqual(decodeMark(encodeMark(written)), { ...written })),
    );
  });

  it('reads anything else as no mark, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (stored) => {
        const decoded = decodeMark(stored);
        if (decoded !== undefined) assert.equal(decodeMark(encodeMark(decoded))?.key, decoded.key);
      }),
    );
    assert.equal(decodeMark('{"k":"x"}'), undefined);
    assert.equal(decodeMark('not json'), undefined);
  });

  it('keeps one mark per key in the window, the latest marker’s', () => {
    const base = { providerId: 'p', scopes: [], expiresAt: 500, tag: 'AAAAAAAAAAAAAAAAAAAAAA' };
    const marks: InUseMark[] = [
      { ...base, key: 'a', principal: 'early', inUseUntil: 400, renewAt: 100 },
      { ...base, key: 'a', principal: 'late', inUseUntil: 450, renewAt: 100 },
      { ...base, key: 'b', principal: 'x', inUseUntil: 450, renewAt: 200 },
    ];
    assert.deepEqual(
      latestPerKey(marks, 50, 150).map((kept) => kept.principal),
      ['late'],
    );
  });

  it('covers a window with the buckets it spans, and only those', () => {
    assert.deepEqual(bucketsBetween(50, 180, 60), [0, 60, 120, 180]);
    assert.deepEqual(bucketsBetween(120, 179, 60), [120]);
  });
});
