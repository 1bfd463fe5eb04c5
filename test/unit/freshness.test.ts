import assert from 'node:assert/strict';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { Freshness } from '../../lambda/freshness';

const providerWith = (refreshMarginSeconds: number) => {
  const [provider] = parseProviderConfig({
    providers: [
      {
        id: 'p',
        tokenEndpoint: 'https://idp.example/token',
        clientAuth: 'client_secret_basic',
        secretId: 's',
        refreshMarginSeconds,
      },
    ],
  });
  if (!provider) throw new Error('fixture');
  return provider;
};
const token = (lifetime: number) => ({ accessToken: 't', issuedAt: 0, expiresAt: lifetime });

describe('Class: Freshness', () => {
  describe('Method: marginSeconds', () => {
    it("is the provider's margin, capped at half the token's lifetime", () => {
      assert.equal(new Freshness(providerWith(60), 'k').marginSeconds(token(86_400)), 60);
      assert.equal(new Freshness(providerWith(900), 'k').marginSeconds(token(300)), 150);
    });
  });

  describe('Method: isFresh', () => {
    it('is true outside the margin and the min_ttl, false inside either', () => {
      const freshness = new Freshness(providerWith(60), 'k');
      assert.ok(freshness.isFresh(token(300), 239));
      assert.ok(!freshness.isFresh(token(300), 240));
      const demanding = new Freshness(providerWith(60), 'k', 200);
      assert.ok(!demanding.isFresh(token(300), 100));
      assert.ok(demanding.isFresh(token(300), 99));
    });
  });

  describe('Method: isUsable', () => {
    it("meets the caller's min_ttl, or the margin when the caller gave none", () => {
      assert.ok(!new Freshness(providerWith(60), 'k').isUsable(token(300), 250));
      assert.ok(new Freshness(providerWith(60), 'k', 10).isUsable(token(300), 250));
      assert.ok(!new Freshness(providerWith(60), 'k', 10).isUsable(token(300), 290));
    });
  });

  describe('Method: isRefreshDue', () => {
    it('falls 10–20 % of the lifetime before the margin, the same for a key every time', () => {
      for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) {
        const freshness = new Freshness(providerWith(60), key);
        // At 300 s: margin 60, refresh ahead 30–60 s before it.
        assert.ok(!freshness.isRefreshDue(token(300), 179), key);
        assert.ok(freshness.isRefreshDue(token(300), 211), key);
        assert.equal(
          freshness.isRefreshDue(token(300), 195),
          new Freshness(providerWith(60), key).isRefreshDue(token(300), 195),
        );
      }
    });

    it('spreads the refresh point across keys', () => {
      const due = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((key) =>
        new Freshness(providerWith(60), key).isRefreshDue(token(86_400), 86_400 - 60 - 8640 - 4320),
      );
      assert.ok(due.includes(true) && due.includes(false));
    });
  });

  describe('Method: isWorthCaching', () => {
    it('keeps no token inside its margin or with 10 s or less left', () => {
      const freshness = new Freshness(providerWith(60), 'k');
      assert.ok(freshness.isWorthCaching(token(300), 0));
      assert.ok(!freshness.isWorthCaching(token(300), 240));
      assert.ok(!freshness.isWorthCaching(token(8), 0));
    });
  });
});

describe('Freshness: the last second', () => {
  it('never finds a token with less than a second left usable, even for min_ttl 0', () => {
    const provider = providerWith(60);
    const token = { accessToken: 't', issuedAt: 0, expiresAt: 100 };
    assert.ok(new Freshness(provider, 'k', 0).isUsable(token, 98.9));
    assert.ok(!new Freshness(provider, 'k', 0).isUsable(token, 99.5));
  });
});
