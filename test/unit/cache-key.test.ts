import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cacheKey } from '../../lambda/cache/cache-key';

const base = {
  providerId: 'p',
  tokenEndpoint: 'https://idp.example/token',
  clientId: 'client-1',
  audience: 'api',
  scopes: ['a', 'b'],
};

describe('Function: cacheKey', () => {
  it('is the same for any order of the same scopes', () => {
    assert.equal(cacheKey(base), cacheKey({ ...base, scopes: ['b', 'a', 'a'] }));
  });

  it('changes with every part that changes the token', () => {
    const variants = [
      { ...base, providerId: 'q' },
      { ...base, tokenEndpoint: 'https://idp.example/other' },
      { ...base, clientId: 'client-2' },
      { ...base, audience: 'other' },
      {
        providerId: base.providerId,
        tokenEndpoint: base.tokenEndpoint,
        clientId: base.clientId,
        scopes: base.scopes,
      },
      { ...base, scopes: ['a'] },
      { ...base, scopes: ['a b'] },
      { ...base, signingKey: 'key-1' },
      { ...base, signingKey: 'key-2' },
    ];
    const keys = new Set([cacheKey(base), ...variants.map(cacheKey)]);
    assert.equal(keys.size, variants.length + 1);
  });

  it('keeps the v1 layout for providers without a KMS signing key, so their cached tokens stay found', () => {
    const v1 = JSON.stringify(['v1', 'p', 'https://idp.example/token', 'client-1', 'api', ['a', 'b']]);
    assert.equal(cacheKey(base), createHash('sha256').update(v1).digest('base64url'));
  });
});
