import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { type BudgetLedger, InProcessBudgetLedger } from '../../lambda/budget/budget-ledger';
import { CallerCounterNames, RandomCounterKey } from '../../lambda/budget/caller-counter-names';
import { ANY_CALLER_SHARES, quotaBudget } from '../../lambda/budget/quota-budget';
import { UpstreamBudget } from '../../lambda/budget/upstream-budget';
import { DependencyBypass } from '../../lambda/cache/dependency-bypass';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import type { ProviderConfig } from '../../lambda/config/provider-schema';
import { RecordingLog } from '../../local/recording-log';

const entry = (tokenQuota: { tokens: number; periodDays: number }, callers: ProviderConfig['callers']) => {
  const [provider] = parseProviderConfig({
    providers: [
      {
        id: 'q',
        tokenEndpoint: 'https://idp.example/token',
        clientAuth: 'client_secret_post',
        secretId: 's',
        tokenQuota,
      },
    ],
  });
  assert.ok(provider);
  return { ...provider, callers };
};

const role = (index: number) => `arn:aws:iam::111122223333:role/caller-${index}`;

describe('Function: quotaBudget', () => {
  it('never lets the service mint more than the quota in any period, whatever the regions and callers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 31 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 1, max: 4 }),
        fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 50 })),
        (periodDays, extra, regions, callerCount) => {
          const tokens = periodDays + 1 + extra;
          const callers =
            callerCount < 0 ? ['*' as const] : Array.from({ length: callerCount }, (_, i) => role(i));
          const budget = quotaBudget(entry({ tokens, periodDays }, callers), regions);
          assert.ok(budget);
          // A stretch of periodDays days touches at most periodDays + 1 UTC days, in every region.
          assert.ok(budget.perDay * (periodDays + 1) * regions <= tokens);
          assert.ok(budget.perCallerPerDay <= budget.perDay);
          // Every caller gets at least one token a day while the region gets any.
          assert.equal(budget.perCallerPerDay >= 1, budget.perDay >= 1);
          // One caller's share leaves the others theirs, while there are fewer callers than tokens a day.
          const shares = callerCount < 0 ? ANY_CALLER_SHARES : Math.max(1, callerCount);
          if (budget.perDay >= shares) assert.ok(budget.perCallerPerDay * shares <= budget.perDay);
        },
      ),
    );
  });

  it('has nothing to say about a provider without a quota', () => {
    const [provider] = parseProviderConfig({
      providers: [
        {
          id: 'q',
          tokenEndpoint: 'https://idp.example/token',
          clientAuth: 'client_secret_post',
          secretId: 's',
        },
      ],
    });
    assert.ok(provider);
    assert.equal(quotaBudget(provider), undefined);
  });

  it('protects the shipped BCC and Bokbasen entries: 31 tokens a UTC day of their 1000 a calendar month', () => {
    const dir = join(__dirname, '..', '..', 'config', 'providers');
    for (const file of ['production.json', 'sandbox.json']) {
      const providers = parseProviderConfig(JSON.parse(readFileSync(join(dir, file), 'utf8')), file);
      const quoted = providers.filter((provider) => /^(bcc|bokbasen)-/.test(provider.id));
      assert.equal(quoted.length, 2, file);
      for (const provider of quoted) {
        const budget = quotaBudget(provider);
        assert.ok(budget && provider.tokenQuota);
        // Auth0 counts per calendar month: a 31-day month not starting at midnight UTC touches 32 UTC days.
        assert.ok(budget.perDay * 32 <= provider.tokenQuota.tokens, `${provider.id}: ${budget.perDay} a day`);
        // Once an operator names its callers, e.g. two of them: 15 each.
        const opened = { ...provider, callers: [role(1), role(2)] };
        assert.deepEqual(quotaBudget(opened), { perDay: 31, perCallerPerDay: 15 }, provider.id);
        assert.deepEqual(
          quotaBudget(opened, 2),
          { perDay: 15, perCallerPerDay: 7 },
          `${provider.id}, two regions`,
        );
      }
    }
  });
});

describe('Class: UpstreamBudget, the lease toll of a quota provider', () => {
  /** A table ledger as far as the toll sees it: each spend it writes, by counter and limit. */
  const ledger = () => {
    const asked: Array<{ counter: string; limit: number }> = [];
    const table: BudgetLedger = {
      spend: async () => true,
      spendWrite: (counter, limit) => {
        asked.push({ counter, limit });
        return { update: { TableName: 't', Key: {}, UpdateExpression: 'SET x = :x' }, spent: () => true };
      },
    };
    return { asked, table };
  };
  const budget = (table: BudgetLedger, regions: number) => {
    const log = new RecordingLog();
    return new UpstreamBudget({
      ledger: table,
      fallback: new InProcessBudgetLedger(),
      names: new CallerCounterNames(new RandomCounterKey()),
      log,
      bypass: new DependencyBypass({ log }),
      regions,
    });
  };

  it("carries the caller's minute and day and the provider's minute and day, as the holder's charge would", async () => {
    const { asked, table } = ledger();
    const toll = budget(table, 1).toll(role(0), entry({ tokens: 310, periodDays: 30 }, [role(0), role(1)]));
    const charges = await toll?.charges(undefined);
    assert.equal(charges?.length, 4);
    assert.deepEqual(
      asked.map(({ counter, limit }) => [counter.replace(/caller#[^#]+$/, 'caller#…'), limit]),
      [
        ['q#caller#…', 30],
        ['q#all', 120],
        ['q#day#caller#…', 5],
        ['q#day#all', 10],
      ],
    );
  });

  it('goes without the lease when a region is left no token a day: a first write of a window passes any limit', async () => {
    const { asked, table } = ledger();
    // 40 a month over two regions: floor(40 / 31 / 2) = 0 a UTC day in each.
    const toll = budget(table, 2).toll(role(0), entry({ tokens: 40, periodDays: 30 }, [role(0)]));
    assert.equal(await toll?.charges(undefined), undefined);
    assert.deepEqual(asked, []);
  });
});
