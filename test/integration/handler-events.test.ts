import assert from 'node:assert/strict';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import fc from 'fast-check';
import {
  apiGatewayEvent,
  contractBreach,
  FUZZ_CALLER,
  type FuzzTarget,
  startFuzzTarget,
} from '../../local/handler-fuzz';
import { proxyEvent } from '../../local/proxy-event';
import { assertNothingSensitive } from '../support/recording-log';

/**
 * Events straight into the real handler, as API Gateway hands them over and as it never would: every
 * answer is a documented status with `no-store` and a request id, and bad input is never a 5xx.
 */
describe('Handler: events from API Gateway', () => {
  let target: FuzzTarget;

  beforeAll(async () => {
    target = await startFuzzTarget();
  });

  afterAll(() => target.close());

  const vendEvent = (overrides: Partial<APIGatewayProxyEvent>): APIGatewayProxyEvent => ({
    ...proxyEvent({
      method: 'POST',
      resource: '/v1/tokens/{provider}',
      path: '/v1/tokens/fuzz',
      pathParameters: { provider: 'fuzz' },
      accessKeyId: 'AKIAFUZZ000000000001',
      principalArn: FUZZ_CALLER,
    }),
    ...overrides,
  });

  it('answers 400 for a body that is missing or not a string', async () => {
    for (const body of [undefined, 42, {}, ['a']]) {
      const response = await target.handler(vendEvent({ body } as unknown as Partial<APIGatewayProxyEvent>));
      assert.equal(response.statusCode, 400, `body ${JSON.stringify(body)}`);
      assert.equal(JSON.parse(response.body).error, 'invalid_request');
    }
  });

  it('answers 400 for a body marked base64 that is not base64, and decodes one that is', async () => {
    for (const body of ['{"scope":"a"}', 'eyJzY29wZSI6ImEifQ', '####', 'e30=e30=']) {
      const response = await target.handler(vendEvent({ body, isBase64Encoded: true }));
      assert.equal(response.statusCode, 400, body);
      assert.match(JSON.parse(response.body).message, /not valid base64/);
    }
    const valid = await target.handler(
      vendEvent({ body: Buffer.from('{"scope":"a"}').toString('base64'), isBase64Encoded: true }),
    );
    assert.equal(valid.statusCode, 200, valid.body);
    assert.equal(JSON.parse(valid.body).scope, undefined);
  });

  it('keeps the contract for any event (fast-check, a few hundred cases)', async () => {
    let unhandled: unknown;
    const onUnhandled = (reason: unknown) => {
      unhandled = reason;
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      await fc.assert(
        fc.asyncProperty(apiGatewayEvent, async (event) => {
          const response = await target.handler(event);
          const breach = contractBreach(response);
          assert.equal(breach, undefined, breach);
        }),
        { numRuns: 300 },
      );
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.equal(unhandled, undefined);
    assertNothingSensitive(target.log.lines, ['fuzz-secret']);
  });
});
