import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigurationError } from '../../lambda/errors';
import { readSettings } from '../../local/local-config';
import { sealingKeyFrom } from '../../local/sealing';

describe('Function: readSettings', () => {
  it('names every bad setting in one line, and no value', () => {
    const key = 'c2VjcmV0LWJ1dC1zaG9ydA==';
    assert.throws(
      () => readSettings({ PORT: 'eighty', TVM_REFRESH_INTERVAL_SECONDS: '0', TVM_SEALING_KEY: key }),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        !error.message.includes('\n') &&
        !error.message.includes(key) &&
        /^PORT .*; TVM_REFRESH_INTERVAL_SECONDS .*; TVM_SEALING_KEY must be 32 bytes/.test(error.message),
    );
  });

  it('takes good settings', () => {
    const settings = readSettings({
      PORT: '0',
      TVM_REFRESH_INTERVAL_SECONDS: '5',
      TVM_SEALING_KEY: Buffer.alloc(32, 7).toString('base64'),
    });
    assert.deepEqual([settings.port, settings.refreshIntervalSeconds], [0, 5]);
  });
});

describe('Function: sealingKeyFrom', () => {
  it('reads 32 bytes as base64 or base64url, padded or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const key = Buffer.from(bytes);
        for (const text of [
          key.toString('base64'),
          key.toString('base64url'),
          key.toString('base64').replace(/=+$/, ''),
        ]) {
          assert.deepEqual(sealingKeyFrom(text), key);
        }
      }),
    );
  });

  it('refuses other lengths and text that is not base64 (which Node would decode to another key)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        if (bytes.length !== 32)
          assert.equal(sealingKeyFrom(Buffer.from(bytes).toString('base64')), undefined);
      }),
    );
    const good = Buffer.alloc(32, 1).toString('base64');
    for (const text of [`${good.slice(0, 20)}!${good.slice(21)}`, `${good} x`, 'not-a-key']) {
      assert.equal(sealingKeyFrom(text), undefined, text);
    }
  });
});
