import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RandomCounterKey } from '../../lambda/budget/caller-counter-names';
import { markFields } from '../../lambda/refresh/in-use-index';
import {
  REGION_STAGGER_SECONDS,
  RENEW_LEAD_SECONDS,
  renewalLeadSeconds,
} from '../../lambda/refresh/in-use-marker';
import { MarkAuthenticator } from '../../lambda/refresh/mark-authenticator';
import { isSqsEvent, renewDelivered } from '../../lambda/refresh/sqs-event';

const seconds = fc.integer({ min: 0, max: 4_000_000_000 });
const fields = fc.record(
  {
    key: fc.string({ minLength: 1, maxLength: 40 }),
    providerId: fc.string({ minLength: 1, maxLength: 20 }),
    scopes: fc.array(fc.string({ minLength: 1, maxLength: 10 }), { maxLength: 3 }),
    audience: fc.string({ minLength: 1, maxLength: 20 }),
    principal: fc.string({ minLength: 1, maxLength: 40 }),
    inUseUntil: seconds,
    renewAt: seconds,
    expiresAt: seconds,
  },
  { requiredKeys: ['key', 'providerId', 'scopes', 'principal', 'inUseUntil', 'renewAt', 'expiresAt'] },
);
const FIELD_NAMES = [
  'key',
  'providerId',
  'scopes',
  'audience',
  'principal',
  'inUseUntil',
  'renewAt',
  'expiresAt',
];

describe('MarkAuthenticator: an in-use mark verifies only whole, under the counter key', () => {
  const marks = new MarkAuthenticator(new RandomCounterKey());

  it('verifies every mark it tagged, and no mark with any one field changed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fields,
        fc.constantFrom(...FIELD_NAMES),
        fc.string({ maxLength: 8 }),
        async (mark, name, extra) => {
          const tag = await marks.tag(markFields(mark));
          assert.ok(await marks.verify(markFields(mark), tag));
          const value = (mark as Record<string, unknown>)[name];
          const changed =
            typeof value === 'number'
              ? value + 1
              : Array.isArray(value)
                ? [...value, `x${extra}`]
                : `${value ?? ''}x${extra}`;
          assert.ok(!(await marks.verify(markFields({ ...mark, [name]: changed }), tag)), name);
        },
      ),
      { seed: 20261206, numRuns: 200 },
    );
  });

  it('verifies nothing tagged under another counter key (a replaced key, or a forger without it)', async () => {
    const other = new MarkAuthenticator(new RandomCounterKey());
    const mark = markFields({
      key: 'k',
      providerId: 'p',
      scopes: [],
      principal: 'c',
      inUseUntil: 2,
      renewAt: 1,
      expiresAt: 3,
    });
    assert.ok(!(await marks.verify(mark, await other.tag(mark))));
    assert.ok(!(await marks.verify(mark, 'AAAAAAAAAAAAAAAAAAAAAA')));
    assert.ok(!(await marks.verify(mark, '')));
  });
});

describe('renewalLeadSeconds: regions renew one after another, not at once', () => {
  it('renews RENEW_LEAD_SECONDS ahead with one region, and staggers several by name', () => {
    assert.equal(renewalLeadSeconds(undefined), RENEW_LEAD_SECONDS);
    const north = renewalLeadSeconds({ own: 'eu-north-1', peers: ['eu-west-1'] });
    const west = renewalLeadSeconds({ own: 'eu-west-1', peers: ['eu-north-1'] });
    // Each region computes the same order from the same list: the first by name renews first.
    assert.equal(north - west, REGION_STAGGER_SECONDS);
    assert.equal(west, RENEW_LEAD_SECONDS);
  });
});

describe('isSqsEvent and renewDelivered: the queue event, and its partial batch failures', () => {
  const record = (messageId: string, body: string) => ({
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body,
    eventSource: 'aws:sqs',
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'function-role',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSourceARN: 'arn:aws:sqs:eu-north-1:111122223333:renewals',
    awsRegion: 'eu-north-1',
  });

  it('tells an SQS event from an API request, a scheduled event or anything else', () => {
    assert.ok(isSqsEvent({ Records: [record('1', 'x')] }));
    assert.ok(!isSqsEvent({ Records: [] }));
    assert.ok(!isSqsEvent({ Records: [{ ...record('1', 'x'), eventSource: 'aws:sns' }] }));
    assert.ok(!isSqsEvent({ Records: [record('1', 'x')], httpMethod: 'POST' }));
    assert.ok(!isSqsEvent({ source: 'aws.events', 'detail-type': 'Scheduled Event' }));
    fc.assert(fc.property(fc.anything(), (value) => typeof isSqsEvent(value) === 'boolean'));
  });

  it('reports the retried messages only, each made visible at its own time first', async () => {
    const visibility: Array<[string, number]> = [];
    const answer = await renewDelivered(
      { Records: [record('a', 'a'), record('b', 'b'), record('c', 'c')] },
      {
        renewBatch: async () => [{ kind: 'done' }, { kind: 'retry', afterSeconds: 15 }, { kind: 'retry' }],
      },
      {
        retryIn: async (receipt, after) => {
          visibility.push([receipt, after]);
          return true;
        },
      },
    );
    assert.deepEqual(answer.batchItemFailures.map((failure) => failure.itemIdentifier).sort(), ['b', 'c']);
    assert.deepEqual(visibility, [['receipt-b', 15]]);
  });
});
