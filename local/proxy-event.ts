import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface ProxyRequest {
  readonly method: string;
  /** The route template, e.g. `/v1/tokens/{provider}`. */
  readonly resource: string;
  readonly path: string;
  readonly pathParameters?: Record<string, string>;
  readonly multiValueHeaders?: Record<string, string[]>;
  readonly multiValueQuery?: Record<string, string[]>;
  readonly body?: string;
  /** The verified caller, as API Gateway reports an AWS_IAM caller. */
  readonly accessKeyId: string;
  readonly principalArn: string;
  readonly sourceIp?: string;
  readonly protocol?: string;
  readonly requestId?: string;
}

const lastValues = (values: Record<string, string[]>): Record<string, string> =>
  Object.fromEntries(Object.entries(values).map(([name, list]) => [name, list[list.length - 1] ?? '']));

/** The account the local API stands in for, as API Gateway names the API's owner: the local run's stack account. */
export const LOCAL_API_ACCOUNT = '000000000000';

const accountOf = (arn: string): string | null => /^arn:[^:]+:(?:iam|sts)::(\d{12}):/.exec(arn)?.[1] ?? null;

/** The REST API proxy event API Gateway hands the function for an IAM-authorized request. */
export function proxyEvent(request: ProxyRequest): APIGatewayProxyEvent {
  const headers = request.multiValueHeaders ?? {};
  const query = request.multiValueQuery ?? {};
  const hasQuery = Object.keys(query).length > 0;
  const requestId = request.requestId ?? randomUUID();
  return {
    resource: request.resource,
    path: request.path,
    httpMethod: request.method,
    headers: lastValues(headers),
    multiValueHeaders: headers,
    queryStringParameters: hasQuery ? lastValues(query) : null,
    multiValueQueryStringParameters: hasQuery ? query : null,
    pathParameters: request.pathParameters ?? null,
    stageVariables: null,
    body: request.body ?? null,
    isBase64Encoded: false,
    requestContext: {
      accountId: LOCAL_API_ACCOUNT,
      apiId: 'local',
      authorizer: null,
      protocol: request.protocol ?? 'HTTP/1.1',
      httpMethod: request.method,
      path: `/local${request.path}`,
      stage: 'local',
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: request.resource,
      identity: {
        accessKey: request.accessKeyId,
        accountId: accountOf(request.principalArn),
        caller: request.accessKeyId,
        user: request.accessKeyId,
        userArn: request.principalArn,
        userAgent: lastValues(headers)['user-agent'] ?? null,
        sourceIp: request.sourceIp ?? '127.0.0.1',
        apiKey: null,
        apiKeyId: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
      },
    },
  };
}
