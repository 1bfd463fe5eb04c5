import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ApiHandler } from '../lambda/handler';
import { proxyEvent } from './proxy-event';
import { type CallerKey, SignatureError, verifySigV4 } from './sigv4-verifier';

/** API Gateway's own payload limit is 10 MB; the handler enforces the API's 8 KiB. */
const MAX_GATEWAY_BODY_BYTES = 10 * 1024 * 1024;

const ROUTES: ReadonlyArray<{
  readonly resource: string;
  readonly pattern: RegExp;
  readonly methods: readonly string[];
}> = [
  { resource: '/v1/tokens/{provider}', pattern: /^\/v1\/tokens\/([^/]+)$/, methods: ['POST', 'DELETE'] },
  { resource: '/v1/providers', pattern: /^\/v1\/providers$/, methods: ['GET'] },
];

export interface LocalGatewayOptions {
  readonly handler: ApiHandler;
  readonly callers: readonly CallerKey[];
  readonly port: number;
  readonly host?: string;
  /** The region callers must sign for. @default AWS_REGION, else us-east-1 */
  readonly region?: string;
}

export interface LocalGateway {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function gatewayError(response: ServerResponse, status: number, requestId: string, message: string): void {
  // The CDK stack maps API Gateway's own refusals to the service's error shape; this mirrors it.
  const error = status === 403 ? 'access_denied' : 'invalid_request';
  response.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'x-amzn-requestid': requestId,
  });
  response.end(JSON.stringify({ error, message, request_id: requestId }));
}

async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_GATEWAY_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function groupValues(pairs: Iterable<readonly [string, string]>): Record<string, string[]> {
  const grouped: Record<string, string[]> = {};
  for (const [name, value] of pairs) {
    const list = grouped[name] ?? [];
    list.push(value);
    grouped[name] = list;
  }
  return grouped;
}

function rawHeaderPairs(rawHeaders: readonly string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2)
    pairs.push([rawHeaders[i] ?? '', rawHeaders[i + 1] ?? '']);
  return pairs;
}

/**
 * The API Gateway REST API on loopback: verifies SigV4 against the callers file, then builds the proxy
 * event API Gateway would build (identity included) and hands it to the same handler Lambda runs.
 */
export async function startLocalGateway(options: LocalGatewayOptions): Promise<LocalGateway> {
  const callers = new Map(options.callers.map((caller) => [caller.accessKeyId, caller]));
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  // Filled in once listening: the names a caller may have signed for, as API Gateway checks its domain.
  let hosts: string[] = [];

  const server: Server = createServer(async (request, response) => {
    const requestId = randomUUID();
    try {
      const target = request.url ?? '/';
      const url = new URL(target, 'http://gateway.invalid');
      const method = request.method ?? 'GET';
      const body = await readBody(request);
      if (body === undefined) return gatewayError(response, 413, requestId, 'Request Too Long');

      const route = ROUTES.find((candidate) => candidate.pattern.test(url.pathname));
      if (!route?.methods.includes(method)) {
        // API Gateway answers an unknown resource or method of an IAM API this way.
        return gatewayError(response, 403, requestId, 'Missing Authentication Token');
      }
      let caller: Awaited<ReturnType<typeof verifySigV4>>;
      try {
        caller = await verifySigV4({ method, target, headers: request.headers, body }, callers, {
          region,
          hosts,
        });
      } catch (error) {
        if (error instanceof SignatureError) return gatewayError(response, 403, requestId, error.message);
        throw error;
      }

      const providerSegment = route.pattern.exec(url.pathname)?.[1];
      let provider: string | undefined;
      try {
        provider = providerSegment === undefined ? undefined : decodeURIComponent(providerSegment);
      } catch {
        return gatewayError(response, 400, requestId, 'The path is not valid percent-encoding.');
      }
      const event = proxyEvent({
        method,
        resource: route.resource,
        path: url.pathname,
        ...(provider === undefined ? {} : { pathParameters: { provider } }),
        multiValueHeaders: groupValues(rawHeaderPairs(request.rawHeaders)),
        multiValueQuery: groupValues(url.searchParams),
        ...(body.length > 0 ? { body: body.toString('utf8') } : {}),
        accessKeyId: caller.accessKeyId,
        principalArn: caller.principalArn,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        protocol: `HTTP/${request.httpVersion}`,
        requestId,
      });
      const result = await options.handler(event);
      const headers: Record<string, string> = { 'x-amzn-requestid': requestId };
      for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
      response.writeHead(result.statusCode, headers);
      response.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
    } catch {
      // API Gateway's answer when the integration itself fails.
      if (!response.headersSent) {
        response.writeHead(502, { 'content-type': 'application/json', 'x-amzn-requestid': requestId });
      }
      response.end(
        JSON.stringify({ error: 'internal_error', message: 'Internal server error', request_id: requestId }),
      );
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const loopbackNames = host === '127.0.0.1' || host === 'localhost' ? ['127.0.0.1', 'localhost'] : [host];
  hosts = loopbackNames.map((name) => `${name}:${port}`);
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
