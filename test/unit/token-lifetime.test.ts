import assert from 'node:assert/strict';
import { tokenExpiry } from '../../lambda/oauth/token-lifetime';

const jwtWithExp = (exp: number) =>
  `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.sig`;

describe('Function: tokenExpiry', () => {
  const now = 1_800_000_000;

  it('counts expires_in from when the request was sent', () => {
    assert.equal(tokenExpiry('opaque', 300, now), now + 300);
  });

  it("takes the JWT's exp when expires_in is absent", () => {
    assert.equal(tokenExpiry(jwtWithExp(now + 500), undefined, now), now + 500);
  });

  it('takes the earlier of expires_in and exp', () => {
    assert.equal(tokenExpiry(jwtWithExp(now + 500), 86_400, now), now + 500);
    assert.equal(tokenExpiry(jwtWithExp(now + 90_000), 3599, now), now + 3599);
  });

  it('refuses nonsense: zero, negative, NaN, absurdly long, no lifetime at all, already expired', () => {
    for (const expiresIn of [0, -5, Number.NaN, '300', 400 * 86_400]) {
      assert.equal(tokenExpiry('opaque', expiresIn, now), undefined, String(expiresIn));
    }
    assert.equal(tokenExpiry('opaque', undefined, now), undefined);
    assert.equal(tokenExpiry(jwtWithExp(now - 1), undefined, now), undefined);
  });
});

describe('Function: tokenExpiry, the ceiling', () => {
  const now = 1_800_000_000;

  it("applies the same ceiling to a JWT's exp as to expires_in: a 50-year exp is nonsense", () => {
    assert.equal(tokenExpiry(jwtWithExp(now + 50 * 365 * 86_400), undefined, now), undefined);
    assert.equal(tokenExpiry('opaque', 50 * 365 * 86_400, now), undefined);
  });

  it("shortens a lifetime to the provider's own ceiling", () => {
    assert.equal(tokenExpiry(jwtWithExp(now + 86_400), undefined, now, 3600), now + 3600);
    assert.equal(tokenExpiry('opaque', 86_400, now, 3600), now + 3600);
    assert.equal(tokenExpiry('opaque', 300, now, 3600), now + 300);
  });
});
