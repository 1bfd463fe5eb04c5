import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { DEMO_CALLER } from '../../local/local-config';
import type { LocalService } from '../../local/local-service';
import { ERROR_STATUS } from '../../packages/client/src/wire-contract';
import { type CallResult, signedFetch } from '../support/sigv4-client';
import { startTestLocalRun } from '../support/test-service';

type OpenApi = {
  paths: Record<string, Record<string, { responses: Record<string, { $ref?: string; content?: unknown }> }>>;
  components: { schemas: { Error: { properties: { error: { enum: string[] } } } } };
};

const document = JSON.parse(
  readFileSync(join(__dirname, '..', '..', 'docs', 'openapi.json'), 'utf8'),
) as OpenApi;

/**
 * docs/openapi.json against the local run's real answers: every status a call got is documented for its
 * route, and every body matches the documented schema. The error codes are the wire contract's.
 */
describe('The OpenAPI document', () => {
  let local: LocalService;
  let stop: () => Promise<void>;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat('date-time', (value: string) => !Number.isNaN(Date.parse(value)));
  ajv.addSchema(document, 'openapi.json');

  beforeAll(async () => {
    ({ local, stop } = await startTestLocalRun());
  });

  afterAll(() => stop());

  /** The schema the document gives for this route, method and status, or a failed assertion. */
  function check(route: string, method: string, result: CallResult): void {
    const response = document.paths[route]?.[method]?.responses[String(result.status)];
    assert.ok(response, `${method.toUpperCase()} ${route} ${result.status} is documented`);
    const ref =
      response.$ref === '#/components/responses/Error'
        ? 'openapi.json#/components/schemas/Error'
        : result.status === 200
          ? route === '/v1/providers'
            ? 'openapi.json#/components/schemas/ProviderList'
            : 'openapi.json#/components/schemas/TokenResponse'
          : undefined;
    if (!ref) {
      assert.equal(result.text, '', 'no body');
      return;
    }
    const validate = ajv.getSchema(ref);
    assert.ok(validate, ref);
    assert.ok(
      validate(result.json),
      `${method} ${route} ${result.status}: ${ajv.errorsText(validate.errors)}`,
    );
    assert.equal(result.headers.get('cache-control'), 'no-store');
  }

  const call = (method: string, path: string, body?: unknown, signed = true) =>
    signedFetch({
      method,
      url: `${local.gateway.url}${path}`,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signed ? { credentials: DEMO_CALLER } : {}),
    });

  it('documents the error codes of the wire contract, no more and no fewer', () => {
    assert.deepEqual(
      [...document.components.schemas.Error.properties.error.enum].sort(),
      Object.keys(ERROR_STATUS).sort(),
    );
  });

  it('matches what the local run answers, success and error alike', async () => {
    const token = '/v1/tokens/{provider}';
    check(token, 'post', await call('POST', '/v1/tokens/demo'));
    check(
      token,
      'post',
      await call('POST', '/v1/tokens/demo', { scope: 'demo.read demo.write', min_ttl: 60 }),
    );
    check(token, 'post', await call('POST', '/v1/tokens/demo', { colour: 'blue' }));
    check(token, 'post', await call('POST', '/v1/tokens/demo', { scope: 'admin' }));
    check(token, 'post', await call('POST', '/v1/tokens/nobody'));
    check(token, 'post', await call('POST', '/v1/tokens/demo', { min_ttl: 86_400 }));
    check(token, 'post', await call('POST', '/v1/tokens/demo', undefined, false));
    check(
      token,
      'delete',
      await call('DELETE', '/v1/tokens/demo', { token_fingerprint: '0123456789abcdef' }),
    );
    check(token, 'delete', await call('DELETE', '/v1/tokens/demo', { token_fingerprint: 'nope' }));
    check('/v1/providers', 'get', await call('GET', '/v1/providers'));
    check('/v1/providers', 'get', await call('GET', '/v1/providers', undefined, false));
  });
});
