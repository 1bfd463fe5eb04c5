import assert from 'node:assert/strict';
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
        problems.some((problem) => problem.startsWith(`providers[0].${field}`)),
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
    assert.ok(problems.some((problem) => problem.startsWith('providers[0].audienceParameter')));
    assert.ok(problems.some((problem) => problem.startsWith('providers[0].defaultAudience')));
  });

  it('requires RFC 8707 resources to be absolute URIs', () => {
    const problems = problemsOf({
      providers: [
        { ...valid, audienceParameter: 'resource', defaultAudience: undefined, allowedAudiences: ['api'] },
      ],
    });
    assert.ok(problems.some((problem) => problem.startsWith('providers[0].allowedAudiences[0]')));
  });

  it('refuses a token quota that allows less than a token a day: no budget could be spread over it', () => {
    const problems = problemsOf({ providers: [{ ...valid, tokenQuota: { tokens: 30, periodDays: 30 } }] });
    assert.deepEqual(problems, [
      'providers[0].tokenQuota: must allow at least one token a day: tokens at least periodDays + 1 (any period touches periodDays + 1 UTC days)',
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
        /providers\[0\]\.defaultScopes: must name at least one scope/.test(error.problems[0] ?? ''),
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
