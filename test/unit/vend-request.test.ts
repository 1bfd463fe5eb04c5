import assert from 'node:assert/strict';
import { VendError } from '../../lambda/errors';
import { parseVendRequest } from '../../lambda/vend-request';
import { normalizeScopes } from '../../packages/client/src/wire-contract';

function refusal(body: string | null, base64 = false): VendError {
  try {
    parseVendRequest(body, base64);
  } catch (error) {
    assert.ok(error instanceof VendError);
    return error;
  }
  assert.fail('expected invalid_request');
}

describe('Function: parseVendRequest', () => {
  it('treats a missing or empty body as no selectors', () => {
    assert.deepEqual(parseVendRequest(null), {});
    assert.deepEqual(parseVendRequest(''), {});
    assert.deepEqual(parseVendRequest('{}'), {});
  });

  it('normalises scope strings and arrays to one sorted, unique set', () => {
    assert.deepEqual(parseVendRequest('{"scope":"b a  b"}').scopes, ['a', 'b']);
    assert.deepEqual(parseVendRequest('{"scope":["b","a"]}').scopes, ['a', 'b']);
    assert.equal(parseVendRequest('{"scope":""}').scopes, undefined);
  });

  it('reads audience and min_ttl', () => {
    assert.deepEqual(parseVendRequest('{"audience":"https://api.example/","min_ttl":600}'), {
      audience: 'https://api.example/',
      minTtlSeconds: 600,
    });
  });

  it('decodes a base64 body as API Gateway may deliver it', () => {
    const body = Buffer.from('{"min_ttl":5}').toString('base64');
    assert.deepEqual(parseVendRequest(body, true), { minTtlSeconds: 5 });
  });

  for (const [name, body, fragment] of [
    ['bad JSON', '{"scope":', 'not valid JSON'],
    ['a JSON array', '[1]', 'JSON object'],
    ['an unknown field', '{"scopes":"a"}', 'unknown field(s): scopes'],
    ['a negative min_ttl', '{"min_ttl":-1}', 'min_ttl'],
    ['a fractional min_ttl', '{"min_ttl":1.5}', 'min_ttl'],
    ['a huge min_ttl', '{"min_ttl":86401}', 'min_ttl'],
    ['a quote in a scope', '{"scope":"a\\"b"}', 'scope'],
    ['a backslash in a scope', '{"scope":["a\\\\b"]}', 'scope'],
    ['a number as scope', '{"scope":7}', 'scope'],
  ] as const) {
    it(`refuses ${name} with invalid_request`, () => {
      const error = refusal(body);
      assert.equal(error.code, 'invalid_request');
      assert.equal(error.status, 400);
      assert.ok(error.message.includes(fragment), error.message);
    });
  }

  it('refuses a body over 8 KiB', () => {
    const error = refusal(JSON.stringify({ scope: 'a'.repeat(8200) }));
    assert.equal(error.code, 'invalid_request');
    assert.match(error.message, /larger than 8192 bytes/);
  });
});

describe('Function: normalizeScopes', () => {
  it('makes "a b", "b a" and ["b","a"] equal', () => {
    assert.deepEqual(normalizeScopes('a b'), normalizeScopes('b a'));
    assert.deepEqual(normalizeScopes(['b', 'a']), ['a', 'b']);
  });
});
