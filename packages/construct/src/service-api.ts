import { RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { acknowledge } from './cdk-nag';
import { probeStatements } from './region-probe';

/** How callers reach the API. */
export type ApiEndpoint =
  | { readonly type: 'regional' }
  /**
   * Only through these interface VPC endpoints (service `execute-api`), for callers inside a VPC: endpoint
   * constructs, or endpoint ids (`vpce-…`) of endpoints made elsewhere.
   */
  | {
      readonly type: 'private';
      readonly vpcEndpoints: ReadonlyArray<ec2.IInterfaceVpcEndpoint | string>;
    };

/** Whom the API's resource policy admits: the named callers, and whole accounts for `"*"` callers. */
export interface AdmittedPrincipals {
  readonly roleArns: readonly string[];
  readonly accounts: readonly string[];
}

export interface ServiceApiProps {
  readonly handler: lambda.IFunction;
  readonly endpoint: ApiEndpoint;
  /** Names the API. */
  readonly environment: string;
  /** Whom the resource policy admits: nobody else may invoke the API, whatever its IAM policies say. */
  readonly principals: AdmittedPrincipals;
  readonly apiGatewayAccountRole: 'create' | 'existing';
  readonly stageName: string;
  readonly throttling: { readonly rateLimit: number; readonly burstLimit: number };
  readonly tracing: boolean;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** The region probe's role (a custom domain over several regions): admitted on the probe's method only. */
  readonly probeRoleArn?: string;
}

/**
 * The IAM-authorized REST API in front of the function: a resource policy admitting only the allowed
 * accounts (and VPC endpoints, when private), JSON access logs without bodies, stage throttling, and API
 * Gateway's own refusals in the service's error shape. Its constructs are children of `scope`, so their
 * logical IDs are those of the construct that calls this.
 */
export function createServiceApi(scope: Construct, props: ServiceApiProps): apigateway.RestApi {
  const vpcEndpoints =
    props.endpoint.type === 'private'
      ? props.endpoint.vpcEndpoints.map((endpoint, index) =>
          typeof endpoint === 'string'
            ? ec2.InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(
                scope,
                `ApiVpcEndpoint${index + 1}`,
                {
                  vpcEndpointId: endpoint,
                  port: 443,
                },
              )
            : endpoint,
        )
      : [];
  const statements = resourcePolicy(props.principals, props.probeRoleArn);
  if (props.probeRoleArn) statements.push(...probeStatements(props.probeRoleArn, props.stageName));
  if (props.endpoint.type === 'private') {
    statements.push(
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: ['execute-api:/*'],
        conditions: {
          StringNotEquals: { 'aws:SourceVpce': vpcEndpoints.map((vpce) => vpce.vpcEndpointId) },
        },
      }),
    );
  }
  const accessLogs = new logs.LogGroup(scope, 'ApiAccessLogs', {
    retention: props.logRetention,
    removalPolicy: props.removalPolicy,
  });
  const api = new apigateway.RestApi(scope, 'Api', {
    restApiName: `token-vending-${props.environment}`,
    description: `Token vending service (${props.environment}): SigV4-signed calls get OAuth bearer tokens for third-party APIs`,
    endpointConfiguration:
      props.endpoint.type === 'private'
        ? { types: [apigateway.EndpointType.PRIVATE], vpcEndpoints }
        : { types: [apigateway.EndpointType.REGIONAL] },
    policy: new iam.PolicyDocument({ statements }),
    defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
    // One per account and region: the stack that owns it creates it, and never deletes it, since another
    // stack's API logging may point at it by then.
    ...(props.apiGatewayAccountRole === 'create'
      ? { cloudWatchRole: true, cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN }
      : { cloudWatchRole: false }),
    deployOptions: {
      stageName: props.stageName,
      accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
      accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
      // Errors only, never request or response bodies: a response body holds a token.
      loggingLevel: apigateway.MethodLoggingLevel.ERROR,
      dataTraceEnabled: false,
      metricsEnabled: true,
      tracingEnabled: props.tracing,
      throttlingRateLimit: props.throttling.rateLimit,
      throttlingBurstLimit: props.throttling.burstLimit,
    },
  });
  addGatewayResponses(api);

  // No test-invoke permission: API Gateway's TestInvokeMethod (an apigateway:POST admin action) would call
  // the function with neither SigV4 nor the resource policy.
  const integration = new apigateway.LambdaIntegration(props.handler, {
    proxy: true,
    allowTestInvoke: false,
  });
  const v1 = api.root.addResource('v1');
  const token = v1.addResource('tokens').addResource('{provider}');
  token.addMethod('POST', integration);
  token.addMethod('DELETE', integration);
  v1.addResource('providers').addMethod('GET', integration);
  acknowledgeApiFindings(api);
  return api;
}

/**
 * Admits exactly the callers the providers name (and, for `"*"` callers, whole accounts): an Allow for
 * them, and a Deny for every other principal, since API Gateway lets a same-account principal in on its IAM
 * policy alone where the resource policy is silent. With no caller at all, nobody is admitted.
 */
function resourcePolicy(
  { roleArns, accounts }: AdmittedPrincipals,
  probeRoleArn: string | undefined,
): iam.PolicyStatement[] {
  const invoke = { actions: ['execute-api:Invoke'], resources: ['execute-api:/*'] };
  // The probe is kept to its one method by its own statements (probeStatements), not by these.
  const probe = probeRoleArn ? [probeRoleArn] : [];
  if (roleArns.length === 0 && accounts.length === 0) {
    return [
      new iam.PolicyStatement({
        sid: 'NoCallersYet',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        ...invoke,
        ...(probeRoleArn ? { conditions: { ArnNotEquals: { 'aws:PrincipalArn': probe } } } : {}),
      }),
    ];
  }
  const conditions: Record<string, Record<string, readonly string[]>> = {};
  if (roleArns.length > 0 || probeRoleArn) {
    conditions.ArnNotEquals = { 'aws:PrincipalArn': [...roleArns, ...probe] };
  }
  if (accounts.length > 0) conditions.StringNotEquals = { 'aws:PrincipalAccount': accounts };
  return [
    new iam.PolicyStatement({
      sid: 'Callers',
      effect: iam.Effect.ALLOW,
      principals: [
        ...roleArns.map((arn) => new iam.ArnPrincipal(arn)),
        ...accounts.map((account) => new iam.AccountPrincipal(account)),
      ],
      ...invoke,
    }),
    new iam.PolicyStatement({
      sid: 'NobodyElse',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      ...invoke,
      conditions,
    }),
  ];
}

/** API Gateway's own refusals answer in the service's error shape, as the local gateway does. */
function addGatewayResponses(api: apigateway.RestApi): void {
  const body = (error: string, message: string) =>
    `{"error":"${error}","message":${message},"request_id":"$context.requestId"}`;
  const responses: Array<[apigateway.ResponseType, string, string, string?]> = [
    [
      apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      'access_denied',
      '"Missing Authentication Token"',
      '403',
    ],
    [apigateway.ResponseType.INVALID_SIGNATURE, 'access_denied', '$context.error.messageString'],
    [apigateway.ResponseType.EXPIRED_TOKEN, 'access_denied', '$context.error.messageString'],
    [apigateway.ResponseType.ACCESS_DENIED, 'access_denied', '$context.error.messageString'],
    [apigateway.ResponseType.UNAUTHORIZED, 'access_denied', '$context.error.messageString'],
    [apigateway.ResponseType.REQUEST_TOO_LARGE, 'invalid_request', '$context.error.messageString'],
    [apigateway.ResponseType.THROTTLED, 'throttled', '"Too many requests to the token vending service"'],
    [apigateway.ResponseType.DEFAULT_4XX, 'invalid_request', '$context.error.messageString'],
    [apigateway.ResponseType.DEFAULT_5XX, 'internal_error', '"Internal server error"'],
  ];
  for (const [type, error, message, statusCode] of responses) {
    api.addGatewayResponse(`Response${type.responseType}`, {
      type,
      ...(statusCode ? { statusCode } : {}),
      responseHeaders: { 'Cache-Control': "'no-store'" },
      templates: { 'application/json': body(error, message) },
    });
  }
}

function acknowledgeApiFindings(api: apigateway.RestApi): void {
  acknowledge(
    api,
    'AwsSolutions-APIG2',
    'The function validates every body against its schema and answers in the documented error shape; a gateway model would duplicate it with a different error shape.',
  );
  acknowledge(
    api,
    'AwsSolutions-APIG3',
    'An internal, IAM-authorized API whose resource policy admits only the callers the providers name; attach a WAF web ACL where a deployment wants one.',
  );
  const cognito = 'Callers are AWS principals authorized with SigV4 (AWS_IAM), not Cognito users.';
  acknowledge(api, 'AwsSolutions-COG4', cognito);
  for (const method of api.methods) acknowledge(method, 'AwsSolutions-COG4', cognito);
  const cloudWatchRole = api.node.tryFindChild('CloudWatchRole');
  if (cloudWatchRole) {
    acknowledge(
      cloudWatchRole,
      'AwsSolutions-IAM4',
      'The account-level logging role of API Gateway uses the AWS managed policy made for it.',
      'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs',
    );
  }
}
