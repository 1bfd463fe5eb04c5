import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { EVICT_OUTCOME_HEADER, type TokenResponse } from '../packages/client/src/wire-contract';
import { auditFields } from './audit';
import { normalizePrincipal } from './caller-policy';
import { type Clock, systemClock } from './clock';
import { ConfigurationError, ERROR_STATUS, type ErrorCode, UpstreamError, VendError } from './errors';
import { describeError, type Log } from './logging';
import type { ServiceMetrics } from './service-metrics';
import type { TokenVendor, VendOutcome } from './token-vendor';
import { parseEvictRequest, parseVendRequest } from './vend-request';

export interface HandlerDependencies {
  readonly vendor: TokenVendor;
  readonly log: Log;
  /** Published after every request. @default none */
  readonly metrics?: ServiceMetrics;
  /** @default the system clock */
  readonly clock?: Clock;
}

export type ApiHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

const TOKEN_ROUTE = '/v1/tokens/{provider}';
const PROVIDERS_ROUTE = '/v1/providers';

const BASE_HEADERS = {
  'content-type': 'application/json',
  // A token must never sit in a shared cache or a browser's history.
  'cache-control': 'no-store',
  pragma: 'no-cache',
} as const;

function respond(
  status: number,
  requestId: string,
  body?: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { ...BASE_HEADERS, 'x-request-id': requestId, ...headers },
    // A trailing newline: a body printed by curl does not run into the shell's prompt.
    body: body === undefined ? '' : `${JSON.stringify(body)}\n`,
  };
}

function errorResponse(error: VendError, requestId: string): APIGatewayProxyResult {
  const { upstreamError, retryAfterSeconds } = error.details;
  return respond(
    error.status,
    requestId,
    {
      error: error.code,
      message: error.message,
      request_id: requestId,
      ...(upstreamError === undefined ? {} : { upstream_error: upstreamError }),
    },
    retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
  );
}

function tokenBody(outcome: VendOutcome, nowMs: number): TokenResponse {
  const { token } = outcome;
  return {
    access_token: token.accessToken,
    token_type: 'Bearer',
    // The vendor serves only tokens with at least a second left; never tell a caller 0.
    expires_in: Math.max(1, Math.floor(token.expiresAt - nowMs / 1000)),
    expires_at: new Date(token.expiresAt * 1000).toISOString(),
    ...(token.scope === undefined ? {} : { scope: token.scope }),
  };
}

/**
 * The API Gateway REST proxy handler: the only place that knows HTTP, and the only place errors become
 * responses. Logs one line per request with the cache outcome and the upstream exchange.
 */
export function createHandler({
  vendor,
  log,
  metrics,
  clock = systemClock,
}: HandlerDependencies): ApiHandler {
  const now = () => clock.now();
  return async (event) => {
    const started = now();
    const requestId = event.requestContext?.requestId ?? 'unknown';
    const userArn = event.requestContext?.identity?.userArn ?? undefined;
    const principal = userArn ? normalizePrincipal(userArn) : undefined;
    const providerId = event.pathParameters?.provider;
    const logFields: Record<string, unknown> = {
      request_id: requestId,
      principal,
      route: `${event.httpMethod} ${event.resource}`,
      ...(providerId === undefined ? {} : { provider: providerId }),
    };

    let response: APIGatewayProxyResult;
    try {
      if (event.resource === TOKEN_ROUTE && providerId !== undefined && event.httpMethod === 'POST') {
        const request = parseVendRequest(event.body, event.isBase64Encoded);
        const outcome = await vendor.vend(principal, providerId, request);
        Object.assign(logFields, {
          cache: outcome.cache,
          ...(outcome.peerRegion === undefined ? {} : { peer_region: outcome.peerRegion }),
          ...auditFields(outcome.token.accessToken, outcome.selectors, request.minTtlSeconds),
          ...upstreamFields(outcome),
          ...(outcome.upstreamFailure ? { upstream_failure: outcome.upstreamFailure } : {}),
        });
        response = respond(200, requestId, tokenBody(outcome, now()));
      } else if (
        event.resource === TOKEN_ROUTE &&
        providerId !== undefined &&
        event.httpMethod === 'DELETE'
      ) {
        const request = parseEvictRequest(event.body, event.isBase64Encoded);
        const outcome = await vendor.evict(principal, providerId, request);
        logFields.evict = outcome;
        // Additive to v1: a 204 still means "done"; the header says whether anything was evicted.
        response = respond(204, requestId, undefined, { [EVICT_OUTCOME_HEADER]: outcome });
      } else if (event.resource === PROVIDERS_ROUTE && event.httpMethod === 'GET') {
        response = respond(200, requestId, { providers: vendor.listProviders(principal) });
      } else {
        throw new VendError('invalid_request', `No route ${event.httpMethod} ${event.path}.`);
      }
    } catch (error) {
      const vendError = toVendError(error, log, logFields);
      response = errorResponse(vendError, requestId);
      // Every error line names its error, a 500's too.
      logFields.error = vendError.code;
      if (error instanceof VendError) {
        Object.assign(logFields, {
          error: error.code,
          upstream_error: error.details.upstreamError,
          upstream_status: error.details.upstreamStatus,
          ...(error instanceof UpstreamError ? upstreamFields(error) : {}),
        });
      }
    }
    const line = { ...logFields, status: response.statusCode, duration_ms: now() - started };
    if (response.statusCode >= 500) log.error('request', line);
    else log.info('request', line);
    metrics?.request(line);
    return response;
  };
}

function upstreamFields({ upstream }: { upstream?: VendOutcome['upstream'] }): Record<string, unknown> {
  if (!upstream) return {};
  return {
    upstream_status: upstream.status,
    upstream_latency_ms: upstream.latencyMs,
    upstream_attempts: upstream.attempts,
  };
}

/** Anything that is not a {@link VendError} is a bug or a misconfiguration: logged, answered without detail. */
function toVendError(error: unknown, log: Log, fields: Record<string, unknown>): VendError {
  if (error instanceof VendError) return error;
  const kind = error instanceof ConfigurationError ? 'misconfiguration' : 'unexpected error';
  log.error(kind, { ...fields, ...describeError(error) });
  const code: ErrorCode = 'internal_error';
  return new VendError(
    code,
    `Internal error (status ${ERROR_STATUS[code]}); quote the request id to the operators.`,
  );
}
