import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  callerGrant,
  isCallerAllowed,
  normalizePrincipal,
  resolveSelectors,
} from '../../lambda/caller-policy';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { accountsInPartition, partitionOfRegion } from '../../lambda/contracts/caller-accounts';
import { ConfigurationError, VendError } from '../../lambda/errors';

/** The stack's own account: what a `"*"` entry admits here. */
const HOME: ReadonlySet<string> = new Set(['111122223333']);

const [provider] = parseProviderConfig({
  providers: [
    {
      id: 'p',
      tokenEndpoint: 'https://idp.example/token',
      clientAuth: 'client_secret_post',
      secretId: 's',
      audienceParameter: 'audience',
      defaultAudience: 'api-a',
      allowedAudiences: ['api-a', 'api-b'],
      defaultScopes: ['read'],
      allowedScopes: ['read', 'write'],
      callers: ['arn:aws:iam::111122223333:role/teams/orders-service', 'arn:aws:iam::111122223333:user/ci'],
    },
  ],
});
if (!provider) throw new Error('fixture');

describe('Function: normalizePrincipal', () => {
  it('turns an assumed-role session into its role', () => {
    assert.equal(
      normalizePrincipal('arn:aws:sts::111122223333:assumed-role/orders-service/i-0abc'),
      'arn:aws:iam::111122223333:role/orders-service',
    );
  });

  it('keeps other partitions and leaves role and user ARNs alone', () => {
    assert.equal(
      normalizePrincipal('arn:aws-us-gov:sts::111122223333:assumed-role/r/s'),
      'arn:aws-us-gov:iam::111122223333:role/r',
    );
    assert.equal(
      normalizePrincipal('arn:aws:iam::111122223333:user/ci'),
      'arn:aws:iam::111122223333:user/ci',
    );
  });
});

describe('Function: isCallerAllowed', () => {
  it('matches a session of a role configured with a path', () => {
    assert.ok(
      isCallerAllowed(
        provider,
        normalizePrincipal('arn:aws:sts::111122223333:assumed-role/orders-service/x'),
        HOME,
      ),
    );
  });

  it('refuses the same role name in another account, other roles and no principal', () => {
    assert.ok(!isCallerAllowed(provider, 'arn:aws:iam::999988887777:role/orders-service', HOME));
    assert.ok(!isCallerAllowed(provider, 'arn:aws:iam::111122223333:role/billing', HOME));
    assert.ok(!isCallerAllowed(provider, undefined, HOME));
  });

  it('matches IAM users exactly', () => {
    assert.ok(isCallerAllowed(provider, 'arn:aws:iam::111122223333:user/ci', HOME));
    assert.ok(!isCallerAllowed(provider, 'arn:aws:iam::111122223333:user/cid', HOME));
  });

  describe('with "*"', () => {
    const anyone = { ...provider, callers: ['*' as const] };

    it('admits the roles (by their sessions), users and root of the admitted accounts', () => {
      for (const principal of [
        normalizePrincipal('arn:aws:sts::111122223333:assumed-role/anything/session'),
        'arn:aws:iam::111122223333:role/team/x',
        'arn:aws:iam::111122223333:user/ci',
        'arn:aws:iam::111122223333:root',
      ]) {
        assert.ok(isCallerAllowed(anyone, principal, HOME), principal);
      }
    });

    it("admits the accounts in the function's own partition only: the same id elsewhere is another account", () => {
      for (const principal of [
        'arn:aws-us-gov:iam::111122223333:role/x',
        'arn:aws-cn:iam::111122223333:user/ci',
        'arn:aws-iso-b:iam::111122223333:root',
      ]) {
        assert.ok(!isCallerAllowed(anyone, principal, HOME), `${principal}, by default`);
      }
      // As the function names its accounts: qualified by the partition its region says.
      const gov = 'arn:aws-us-gov:iam::111122223333:role/x';
      const inGov = new Set(accountsInPartition(['111122223333'], partitionOfRegion('us-gov-west-1')));
      assert.ok(isCallerAllowed(anyone, gov, inGov));
      assert.ok(!isCallerAllowed(anyone, 'arn:aws:iam::111122223333:role/x', inGov));
      const inAws = new Set(accountsInPartition(['111122223333'], partitionOfRegion('eu-north-1')));
      assert.ok(isCallerAllowed(anyone, 'arn:aws:iam::111122223333:role/x', inAws));
      assert.ok(!isCallerAllowed(anyone, gov, inAws));
      // A principal named in `callers` is matched as named, partition and all.
      const named = { ...provider, callers: [gov] };
      assert.ok(isCallerAllowed(named, gov, HOME));
      assert.ok(!isCallerAllowed(named, 'arn:aws:iam::111122223333:role/x', HOME));
    });

    it('refuses other accounts, GetFederationToken sessions and anything that is not an IAM principal', () => {
      for (const principal of [
        'arn:aws:iam::999988887777:role/partner',
        'arn:aws:sts::111122223333:federated-user/any-name',
        'arn:aws:sts::111122223333:assumed-role/x/s',
        'arn:aws:iam::111122223333:group/x',
        'arn:aws:iam::1111222233334:role/x',
        '111122223333',
      ]) {
        assert.ok(!isCallerAllowed(anyone, principal, HOME), principal);
      }
      assert.ok(!isCallerAllowed(anyone, 'arn:aws:iam::111122223333:role/x', new Set()));
    });

    it('never admits a principal whose account is not admitted, however it is spelt', () => {
      fc.assert(
        fc.property(fc.string(), fc.stringMatching(/^\d{12}$/), (text, account) => {
          fc.pre(!text.includes(account));
          const principals = [text, `arn:aws:iam::${text}:role/x`, `arn:aws:iam::111122223333${text}`];
          return principals.every(
            (principal) =>
              !isCallerAllowed(anyone, principal, new Set([account])) || principal.split(':')[4] === account,
          );
        }),
      );
    });
  });
});

describe('Function: resolveSelectors', () => {
  it('applies the provider defaults', () => {
    const grant = callerGrant(provider, 'arn:aws:iam::111122223333:user/ci', HOME);
    assert.ok(grant);
    assert.deepEqual(resolveSelectors(provider, grant, {}), { scopes: ['read'], audience: 'api-a' });
  });

  it('refuses a scope or an audience outside the allowed lists', () => {
    for (const request of [{ scopes: ['read', 'admin'] }, { audience: 'api-c' }]) {
      const grant = callerGrant(provider, 'arn:aws:iam::111122223333:user/ci', HOME);
      assert.ok(grant);
      assert.throws(
        () => resolveSelectors(provider, grant, request),
        (error: unknown) => error instanceof VendError && error.code === 'access_denied',
      );
    }
  });
});

describe('Callers limited to some scopes and audiences', () => {
  const [limited] = parseProviderConfig({
    providers: [
      {
        id: 'limited',
        tokenEndpoint: 'https://idp.example/token',
        clientAuth: 'client_secret_basic',
        secretId: 's',
        audienceParameter: 'audience',
        defaultAudience: 'api-a',
        allowedAudiences: ['api-a', 'api-b'],
        defaultScopes: ['read'],
        allowedScopes: ['read', 'write', 'admin'],
        callers: [
          { principal: 'arn:aws:iam::111122223333:role/reader', scopes: ['read'], audiences: ['api-b'] },
          { principal: 'arn:aws:iam::111122223333:role/writer', scopes: ['write'] },
          'arn:aws:iam::111122223333:role/everything',
        ],
      },
    ],
  });
  assert.ok(limited);
  const grantOf = (role: string) => {
    const grant = callerGrant(
      limited,
      normalizePrincipal(`arn:aws:sts::111122223333:assumed-role/${role}/session`),
      HOME,
    );
    assert.ok(grant, role);
    return grant;
  };

  it('gives each caller only its own scopes and audiences, with the defaults it may have', () => {
    const reader = grantOf('reader');
    assert.deepEqual(resolveSelectors(limited, reader, {}), { scopes: ['read'], audience: 'api-b' });
    for (const request of [{ scopes: ['write'] }, { scopes: ['read', 'admin'] }, { audience: 'api-a' }]) {
      assert.throws(
        () => resolveSelectors(limited, reader, request),
        (error: unknown) => error instanceof VendError && error.code === 'access_denied',
      );
    }
    assert.deepEqual(resolveSelectors(limited, grantOf('everything'), { scopes: ['admin'] }).scopes, [
      'admin',
    ]);
  });

  it('asks a caller whose scopes miss the provider default to name one', () => {
    const writer = grantOf('writer');
    assert.throws(() => resolveSelectors(limited, writer, {}), /Name a scope/);
    assert.deepEqual(resolveSelectors(limited, writer, { scopes: ['write'] }).scopes, ['write']);
  });

  it('refuses entries whose lists leave a caller more than the provider allows, or no default', () => {
    const entry = (overrides: Record<string, unknown>) => ({
      id: 'p',
      tokenEndpoint: 'https://idp.example/token',
      clientAuth: 'client_secret_basic',
      secretId: 's',
      allowedScopes: ['a'],
      defaultScopes: ['a'],
      ...overrides,
    });
    for (const overrides of [
      { defaultScopes: [] },
      { callers: [{ principal: 'arn:aws:iam::111122223333:role/x', scopes: ['b'] }] },
      { audienceParameter: 'audience', allowedAudiences: ['x'] },
    ]) {
      assert.throws(() => parseProviderConfig({ providers: [entry(overrides)] }), JSON.stringify(overrides));
    }
  });
  it('refuses an empty caller list at load, naming the entry (absent means the provider lists)', () => {
    for (const field of ['scopes', 'audiences'] as const) {
      const document = {
        providers: [
          {
            id: 'p',
            tokenEndpoint: 'https://idp.example/token',
            clientAuth: 'client_secret_basic',
            secretId: 's',
            audienceParameter: 'audience',
            defaultAudience: 'api-a',
            allowedAudiences: ['api-a'],
            allowedScopes: ['read', 'admin'],
            defaultScopes: ['read'],
            callers: [{ principal: 'arn:aws:iam::111122223333:role/reader', [field]: [] }],
          },
        ],
      };
      assert.throws(
        () => parseProviderConfig(document, 'providers.json', 'local'),
        (error: unknown) =>
          error instanceof ConfigurationError &&
          error.problems.some(
            (problem) =>
              problem.startsWith(`providers["p"].callers[0].${field}:`) &&
              problem.includes('arn:aws:iam::111122223333:role/reader'),
          ),
      );
    }
  });

  it('always sends something from a provider allow-list, even for a grant that names none', () => {
    // A grant as a hand-built config would give it, past the schema: empty lists never mean "provider default".
    const empty = { scopes: [], audiences: [], defaultScopes: [] };
    assert.throws(
      () => resolveSelectors(limited, empty, {}),
      (error: unknown) => error instanceof VendError && error.code === 'access_denied',
    );
    assert.throws(
      () => resolveSelectors(limited, { ...empty, scopes: ['read'], defaultScopes: ['read'] }, {}),
      /Name an audience/,
    );
  });
});

describe('Function: partitionOfRegion', () => {
  it("names the partition of the function's region, and aws for any other or none", () => {
    assert.deepEqual(
      [
        'eu-north-1',
        'us-east-1',
        'cn-north-1',
        'cn-northwest-1',
        'us-gov-west-1',
        'us-iso-east-1',
        'us-isob-east-1',
        'eu-isoe-west-1',
        'us-isof-south-1',
        'eusc-de-east-1',
        undefined,
      ].map(partitionOfRegion),
      [
        'aws',
        'aws',
        'aws-cn',
        'aws-cn',
        'aws-us-gov',
        'aws-iso',
        'aws-iso-b',
        'aws-iso-e',
        'aws-iso-f',
        'aws-eusc',
        'aws',
      ],
    );
  });
});
