import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { ConfigurationError } from '../../lambda/errors';

const valid = {
  id: 'bcc-sandbox',
  tokenEndpoint: 'https://bcc-sso-sandbox.eu.auth0.com/oauth/token',
  clientAuth: 'client_secret_post',
  bodyEncoding: 'json',
  secretId: 'token-vending/bcc-sandbox',
  audienceParameter: 'audience',
  defaultAudience: 'sandbox-api.bcc.no',
  allowedAudiences: ['sandbox-api.bcc.no'],
  defaultScopes: ['persons.name#read'],
  allowedScopes: ['persons.name#read', 'persons.birth_date#read'],
  callers: ['arn:aws:iam::123456789012:role/orders-service'],
  refreshMarginSeconds: 60,
  timeoutMs: 5000,
};

function problemsOf(document: unknown): readonly string[] {
  try {
    parseProviderConfig(document);
  } catch (error) {
    assert.ok(error instanceof ConfigurationError);
    return error.problems;
  }
  assert.fail('expected the document to be refused');
}

describe('Function: parseProviderConfig', () => {
  it('accepts the docs/DESIGN.md example entry and fills defaults', () => {
    const [provider] = parseProviderConfig({ providers: [valid] });
    assert.equal(provider?.id, 'bcc-sandbox');
    assert.equal(provider?.maxAttempts, 3);
    assert.equal(provider?.assertionAlgorithm, 'RS256');
  });

  it('defaults to a form body, no audience parameter and no callers (closed)', () => {
    const [provider] = parseProviderConfig({
      providers: [
        {
          id: 'p',
          tokenEndpoint: 'https://idp.example/token',
          clientAuth: 'client_secret_basic',
          secretId: 's',
        },
      ],
    });
    assert.equal(provider?.bodyEncoding, 'form');
    assert.equal(provider?.audienceParameter, 'none');
    assert.deepEqual(provider?.callers, []);
  });

  it('reports every bad field at once, by path', () => {
    const problems = problemsOf({
      providers: [
        {
          ...valid,
          tokenEndpoint: 'http://idp.example/token',
          clientAuth: 'mutual_trust',
          defaultScopes: ['not allowed'],
          callers: ['orders-service'],
          timeoutMs: 0,
          colour: 'blue',
        },
      ],
    });
    const fields = ['tokenEndpoint', 'clientAuth', 'defaultScopes[0]', 'callers[0]', 'timeoutMs'];
    for (const field of fields) {
      assert.ok(
        problems.some((problem) => problem.startsWith(`providers["bcc-sandbox"].${field}`)),
        `${field} in ${problems}`,
      );
    }
    assert.ok(problems.some((problem) => problem.includes('colour')));
  });

  it('allows plain http only on loopback', () => {
    for (const endpoint of [
      'http://127.0.0.1:8080/token',
      'http://localhost/token',
      'http://[::1]:9/token',
    ]) {
      assert.doesNotThrow(() =>
        parseProviderConfig({ providers: [{ ...valid, tokenEndpoint: endpoint }] }, 'local run', 'local'),
      );
    }
    for (const endpoint of [
      'http://10.0.0.1/token',
      'ftp://idp.example/token',
      'https://user:pw@idp.example/t',
      'nonsense',
    ]) {
      assert.ok(problemsOf({ providers: [{ ...valid, tokenEndpoint: endpoint }] }).length > 0, endpoint);
    }
  });

  it('refuses audiences when no audience parameter is set, and a default outside the allowed list', () => {
    const problems = problemsOf({
      providers: [
        { ...valid, audienceParameter: 'none', defaultAudience: 'elsewhere', allowedAudiences: ['x'] },
      ],
    });
    assert.ok(problems.some((problem) => problem.startsWith('providers["bcc-sandbox"].audienceParameter')));
    assert.ok(problems.some((problem) => problem.startsWith('providers["bcc-sandbox"].defaultAudience')));
  });

  it('requires RFC 8707 resources to be absolute URIs', () => {
    const problems = problemsOf({
      providers: [
        { ...valid, audienceParameter: 'resource', defaultAudience: undefined, allowedAudiences: ['api'] },
      ],
    });
    assert.ok(problems.some((problem) => problem.startsWith('providers["bcc-sandbox"].allowedAudiences[0]')));
  });

  it('refuses a token quota that allows less than a token a day: no budget could be spread over it', () => {
    const problems = problemsOf({ providers: [{ ...valid, tokenQuota: { tokens: 30, periodDays: 30 } }] });
    assert.deepEqual(problems, [
      'providers["bcc-sandbox"].tokenQuota: must allow at least one token a day: tokens at least periodDays + 1 (any period touches periodDays + 1 UTC days)',
    ]);
    assert.doesNotThrow(() =>
      parseProviderConfig({ providers: [{ ...valid, tokenQuota: { tokens: 31, periodDays: 30 } }] }),
    );
  });

  it('refuses duplicate provider ids', () => {
    const problems = problemsOf({ providers: [valid, valid] });
    assert.ok(problems.some((problem) => problem.includes('duplicate provider id')));
  });

  it('refuses a caller listed twice, or beside "*": the first match would decide by order', () => {
    const restricted = { principal: 'arn:aws:iam::123456789012:role/orders', scopes: ['persons.name#read'] };
    for (const callers of [
      ['*', restricted],
      ['arn:aws:iam::123456789012:role/orders', restricted],
      ['arn:aws:iam::123456789012:role/teams/orders', restricted],
      [restricted, { ...restricted, scopes: ['persons.birth_date#read'] }],
    ]) {
      const problems = problemsOf({ providers: [{ ...valid, callers }] });
      assert.ok(
        problems.some((problem) => /one entry per principal|must be the only entry/.test(problem)),
        JSON.stringify(callers),
      );
    }
    const [provider] = parseProviderConfig({
      providers: [{ ...valid, callers: [restricted, 'arn:aws:iam::123456789012:role/billing'] }],
    });
    assert.equal(provider?.callers.length, 2);
  });
});

describe('Token endpoints of a deployed service', () => {
  const entry = (tokenEndpoint: string) => ({
    providers: [{ id: 'p', tokenEndpoint, clientAuth: 'client_secret_basic', secretId: 's' }],
  });

  it('refuses loopback, private and link-local addresses outside the local run', () => {
    for (const endpoint of [
      'http://127.0.0.1:8080/token',
      'https://localhost/token',
      'https://10.1.2.3/token',
      'https://172.20.0.1/token',
      'https://192.168.1.1/token',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/token',
      'https://[fd00::1]/token',
      'https://[::ffff:10.0.0.1]/token',
    ]) {
      assert.throws(
        () => parseProviderConfig(entry(endpoint)),
        /only the local run may use one|IPv6 form/,
        endpoint,
      );
    }
    assert.equal(parseProviderConfig(entry('https://idp.example/token')).length, 1);
    assert.equal(parseProviderConfig(entry('https://8.8.8.8/token')).length, 1);
  });

  it('lets the local run use loopback', () => {
    assert.equal(parseProviderConfig(entry('http://127.0.0.1:8080/token'), 'local', 'local').length, 1);
  });
});

describe('Grants and client authentication', () => {
  const base = { id: 'p', tokenEndpoint: 'https://idp.example/token', secretId: 's' };

  it('takes the JWT-bearer grant with its assertion, and client_secret_jwt', () => {
    const [maskinporten, hmac] = parseProviderConfig({
      providers: [
        {
          ...base,
          grantType: 'jwt_bearer',
          clientAuth: 'none',
          assertion: {
            audience: 'https://test.maskinporten.no/',
            header: 'x5c',
            resource: ['https://api.example/'],
          },
          defaultScopes: ['digdir:dialogporten'],
          allowedScopes: ['digdir:dialogporten'],
        },
        { ...base, id: 'q', clientAuth: 'client_secret_jwt', extraParameters: { vendor_hint: 'x' } },
      ],
    });
    assert.equal(maskinporten?.assertion?.lifetimeSeconds, 120);
    assert.equal(maskinporten?.assertion?.algorithm, 'RS256');
    assert.deepEqual(hmac?.extraParameters, { vendor_hint: 'x' });
  });

  it('refuses a JWT-bearer entry without a scope: Maskinporten refuses such a grant, so it could never vend', () => {
    const entry = {
      ...base,
      grantType: 'jwt_bearer',
      clientAuth: 'none',
      assertion: { audience: 'https://maskinporten.no/' },
    };
    assert.throws(
      () => parseProviderConfig({ providers: [entry] }),
      (error: ConfigurationError) =>
        error.problems.length === 1 &&
        /providers\["p"\]\.defaultScopes: must name at least one scope/.test(error.problems[0] ?? ''),
    );
  });

  it('refuses a JWT-bearer entry without an assertion or with client authentication, a lifetime over 120 s, and reserved extra parameters', () => {
    for (const entry of [
      { ...base, grantType: 'jwt_bearer', clientAuth: 'none' },
      {
        ...base,
        grantType: 'jwt_bearer',
        clientAuth: 'private_key_jwt',
        assertion: { audience: 'https://a/' },
      },
      {
        ...base,
        grantType: 'jwt_bearer',
        clientAuth: 'none',
        assertion: { audience: 'https://a/', lifetimeSeconds: 600 },
      },
      { ...base, clientAuth: 'none' },
      { ...base, clientAuth: 'client_secret_post', extraParameters: { client_secret: 'x' } },
      { ...base, clientAuth: 'client_secret_post', extraParameters: { scope: 'admin' } },
    ]) {
      assert.throws(() => parseProviderConfig({ providers: [entry] }), JSON.stringify(entry));
    }
  });
});

describe('Every problem at once, each provider named by its id', () => {
  const entry = (id: string, over: Record<string, unknown> = {}) => ({
    id,
    tokenEndpoint: 'https://idp.example/token',
    clientAuth: 'client_secret_post',
    secretId: `tvm/${id}`,
    ...over,
  });

  it('lists field problems, rules between fields, duplicate ids and private endpoints together', () => {
    const problems = problemsOf({
      providers: [
        // A field problem and a rule between fields in the same entry.
        entry('bcc', { tokenEndpoint: 'http://idp.example', defaultScopes: ['a'], allowedScopes: ['b'] }),
        entry('ngi', { timeoutMs: 0 }),
        entry('ngi'),
        entry('private', { tokenEndpoint: 'https://10.0.0.1/token', colour: 'blue' }),
        { tokenEndpoint: 'https://idp.example/token' },
      ],
    });
    assert.deepEqual(
      problems.map((problem) => problem.split(':')[0]),
      [
        'providers["bcc"].tokenEndpoint',
        'providers["bcc"].defaultScopes[0]',
        'providers[1].timeoutMs',
        'providers["private"]',
        'providers[4].id',
        'providers[4].clientAuth',
        'providers[4].secretId',
        'providers[2].id',
        'providers["private"].tokenEndpoint',
      ],
    );
    assert.match(problems[3] ?? '', /colour/);
    assert.match(problems[7] ?? '', /duplicate provider id "ngi"/);
  });

  it('holds a rule back only while a field it reads is itself wrong', () => {
    const problems = problemsOf({
      providers: [entry('bcc', { allowedScopes: ['b', 'not a scope'], defaultScopes: ['a'] })],
    });
    // defaultScopes against a list that is not valid would only guess: the list is fixed first.
    assert.deepEqual(problems, [
      'providers["bcc"].allowedScopes[1]: must be an RFC 6749 scope-token (no spaces or quotes)',
    ]);
  });

  /**
   * One broken field of the kind no rule reads, and one broken rule, per entry: each reported, by id. A
   * wrong type (`maxAttempts: "three"`) is what zod stops an entry's rules for unless told when to run them.
   */
  const FIELD_BREAKS = {
    tokenEndpoint: { tokenEndpoint: 'http://idp.example/token' },
    timeoutMs: { timeoutMs: 0 },
    maxAttempts: { maxAttempts: 'three' },
    bodyEncoding: { bodyEncoding: 'xml' },
    secretId: { secretId: '' },
    refreshMarginSeconds: { refreshMarginSeconds: -1 },
  } as const;
  const RULE_BREAKS = {
    'defaultScopes[0]': { defaultScopes: ['a'], allowedScopes: ['b'] },
    defaultAudience: { audienceParameter: 'audience', allowedAudiences: ['x'] },
    audienceParameter: { defaultAudience: 'x', allowedAudiences: ['x'] },
    defaultScopes: { allowedScopes: ['b'] },
  } as const;

  it('reports exactly the broken fields and rules of every entry, whatever their mix', () => {
    const breaks = fc.record({
      field: fc.option(fc.constantFrom(...(Object.keys(FIELD_BREAKS) as Array<keyof typeof FIELD_BREAKS>))),
      rule: fc.option(fc.constantFrom(...(Object.keys(RULE_BREAKS) as Array<keyof typeof RULE_BREAKS>))),
    });
    fc.assert(
      fc.property(fc.array(breaks, { minLength: 1, maxLength: 5 }), (entries) => {
        const document = {
          providers: entries.map(({ field, rule }, index) =>
            entry(`p${index}`, { ...(field ? FIELD_BREAKS[field] : {}), ...(rule ? RULE_BREAKS[rule] : {}) }),
          ),
        };
        const expected = entries
          .flatMap(({ field, rule }, index) => [
            ...(field ? [`providers["p${index}"].${field}`] : []),
            ...(rule ? [`providers["p${index}"].${rule}`] : []),
          ])
          .sort();
        let problems: readonly string[] = [];
        try {
          parseProviderConfig(document);
        } catch (error) {
          problems = (error as ConfigurationError).problems;
        }
        assert.deepEqual(problems.map((problem) => problem.split(':')[0]).sort(), expected);
      }),
    );
  });
});
