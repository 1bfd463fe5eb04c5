import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import fc from 'fast-check';
import { composeService } from '../lambda/compose';
import { parseProviderConfig } from '../lambda/config/load-providers';
import { StaticCredentialSource } from '../lambda/credentials/static-credential-source';
import { ERROR_STATUS } from '../lambda/errors';
import type { ApiHandler } from '../lambda/handler';
import { type FakeProvider, grant, startFakeProvider } from './loopback/fake-provider';
import { proxyEvent } from './proxy-event';
import { RecordingLog } from './recording-log';

export const FUZZ_CALLER = 'arn:aws:iam::111122223333:role/fuzz-caller';

/** Statuses the API documents: the successes and every row of the error table. */
export const DOCUMENTED_STATUSES: ReadonlySet<number> = new Set([200, 204, ...Object.values(ERROR_STATUS)]);

const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('', ' ', '%', '%zz', '..', '/', '\u0000', '__proto__', 'constructor', 'fuzz', 'FUZZ'),
  fc.string({ minLength: 5000, maxLength: 20_000 }),
);

/** JSON bodies: mostly object-shaped like a vend body, with odd values, deep nesting and prototype keys. */
const jsonBody = fc
  .oneof(
    fc.record(
      {
        scope: fc.oneof(
          fc.string(),
          fc.array(fc.string(), { maxLength: 60 }),
          fc.jsonValue(),
          fc.constant('a b'),
        ),
        audience: fc.oneof(fc.string(), fc.jsonValue()),
        min_ttl: fc.oneof(fc.integer({ min: -10, max: 100_000 }), fc.double(), fc.jsonValue()),
        __proto__: fc.jsonValue(),
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue({ maxDepth: 50 }),
    fc.letrec((tie) => ({
      deep: fc.oneof({ depthSize: 'small' }, fc.constant({}), fc.record({ a: tie('deep') })),
    })).deep,
    fc.constant({ ['__proto__']: { polluted: true } }),
  )
  .map((value) => JSON.stringify(value) ?? 'null');

const body = fc.oneof(
  jsonBody,
  text,
  fc.constant(null),
  fc.constant(undefined),
  fc.constantFrom<unknown>(42, {}, [], true),
  fc.constant('{"scope": "a b"'),
  fc.constant('x'.repeat(9000)),
);

const identity = fc.oneof(
  fc.constant(FUZZ_CALLER),
  fc.constant('arn:aws:sts::111122223333:assumed-role/fuzz-caller/session-1'),
  fc.constant('arn:aws:iam::999988887777:role/stranger'),
  text,
  fc.constant(null),
  fc.constant(undefined),
);

const resource = fc.constantFrom(
  '/v1/tokens/{provider}',
  '/v1/providers',
  '/v1/tokens',
  '/',
  '/{proxy+}',
  '',
);
const method = fc.constantFrom('POST', 'DELETE', 'GET', 'PUT', 'PATCH', 'OPTIONS', 'HEAD', 'post', '');
/** Mostly the routes that exist, so that most cases get past routing into the vendor. */
const route = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(['POST', '/v1/tokens/{provider}'], ['DELETE', '/v1/tokens/{provider}']),
  },
  { weight: 1, arbitrary: fc.constant(['GET', '/v1/providers']) },
  { weight: 1, arbitrary: fc.tuple(method, resource) },
);

/** A REST API proxy event of any shape API Gateway could hand over, and several it never would. */
export const apiGatewayEvent: fc.Arbitrary<APIGatewayProxyEvent> = fc
  .record({
    route,
    provider: fc.oneof(
      { weight: 4, arbitrary: fc.constant('fuzz') },
      { weight: 1, arbitrary: fc.oneof(fc.constant('missing'), text, fc.constant(undefined)) },
    ),
    body: fc.oneof({ weight: 2, arbitrary: jsonBody }, { weight: 1, arbitrary: body }),
    base64: fc.oneof(fc.boolean(), fc.constant(undefined), fc.constant('true' as unknown as boolean)),
    encodeBody: fc.boolean(),
    headers: fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 100 }), { maxKeys: 5 }),
    userArn: fc.oneof({ weight: 3, arbitrary: fc.constant(FUZZ_CALLER) }, { weight: 1, arbitrary: identity }),
    dropContext: fc.constantFrom<'none' | 'identity' | 'requestContext'>(
      'none',
      'none',
      'none',
      'identity',
      'requestContext',
    ),
  })
  .map((shape) => {
    const [method, resource] = shape.route as [string, string];
    const event = proxyEvent({
      method,
      resource,
      path: resource.replace('{provider}', String(shape.provider)),
      ...(shape.provider === undefined ? {} : { pathParameters: { provider: shape.provider } }),
      multiValueHeaders: Object.fromEntries(
        Object.entries(shape.headers).map(([name, value]) => [name, [value]]),
      ),
      accessKeyId: 'AKIAFUZZ000000000001',
      principalArn: String(shape.userArn),
    }) as unknown as Record<string, unknown> & { requestContext: { identity: Record<string, unknown> } };
    const encoded =
      shape.encodeBody && typeof shape.body === 'string'
        ? Buffer.from(shape.body).toString('base64')
        : shape.body;
    event.body = encoded;
    event.isBase64Encoded = shape.base64;
    if (shape.userArn === undefined || shape.userArn === null)
      event.requestContext.identity.userArn = shape.userArn;
    if (shape.dropContext === 'identity') delete (event.requestContext as Record<string, unknown>).identity;
    if (shape.dropContext === 'requestContext') delete (event as Record<string, unknown>).requestContext;
    return event as unknown as APIGatewayProxyEvent;
  });

export interface FuzzTarget {
  readonly handler: ApiHandler;
  readonly log: RecordingLog;
  readonly provider: FakeProvider;
  close(): Promise<void>;
}

/** The real handler over a healthy loopback provider: whatever goes wrong is the handler's doing. */
export async function startFuzzTarget(): Promise<FuzzTarget> {
  const provider = await startFakeProvider((_request, index) => grant(`fuzz-token-${index}`));
  const log = new RecordingLog();
  const { handler } = composeService({
    providers: parseProviderConfig(
      {
        providers: [
          {
            id: 'fuzz',
            tokenEndpoint: provider.tokenEndpoint,
            clientAuth: 'client_secret_post',
            secretId: 'tvm/fuzz',
            callers: [FUZZ_CALLER],
            allowedScopes: ['a', 'b'],
            defaultScopes: ['a'],
            audienceParameter: 'audience',
            allowedAudiences: ['https://api.example'],
            defaultAudience: 'https://api.example',
          },
        ],
      },
      'fuzz providers',
      'local',
    ),
    credentials: new StaticCredentialSource({
      'tvm/fuzz': { client_id: 'fuzz', client_secret: 'fuzz-secret' },
    }),
    endpoints: 'local',
    log,
  });
  return { handler, log, provider, close: () => provider.close() };
}

/** Why an answer breaks the contract, or undefined when it keeps it. */
export function contractBreach(response: APIGatewayProxyResult | undefined): string | undefined {
  if (!response) return 'no response';
  if (!DOCUMENTED_STATUSES.has(response.statusCode)) return `undocumented status ${response.statusCode}`;
  if (response.statusCode >= 500) return `a 5xx (${response.statusCode}) for input a healthy provider serves`;
  if (response.headers?.['cache-control'] !== 'no-store') return 'no cache-control: no-store';
  if (!response.headers?.['x-request-id']) return 'no request id header';
  if (response.statusCode === 204) return response.body === '' ? undefined : 'a 204 with a body';
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(response.body) as Record<string, unknown>;
  } catch {
    return 'a body that is not JSON';
  }
  if (response.statusCode >= 400) {
    const status = ERROR_STATUS[json.error as keyof typeof ERROR_STATUS];
    if (status !== response.statusCode)
      return `error code ${String(json.error)} does not match ${response.statusCode}`;
    if (typeof json.request_id !== 'string') return 'an error without request_id';
  }
  return undefined;
}
