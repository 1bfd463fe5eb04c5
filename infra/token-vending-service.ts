import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct, type IConstruct } from 'constructs';
import { TOKEN_TABLE } from '../lambda/cache/dynamodb-tier';
import { parseProviderConfig } from '../lambda/config/load-providers';
import type { ProviderConfig } from '../lambda/config/provider-schema';
import { FUNCTION_BUNDLE } from './function-bundle';
import { grantVend } from './grant-vend';

/** How callers reach the API. */
export type ApiEndpoint =
  | { readonly type: 'regional' }
  /** Only through these interface VPC endpoints (service `execute-api`), for callers inside a VPC. */
  | { readonly type: 'private'; readonly vpcEndpoints: readonly ec2.IInterfaceVpcEndpoint[] };

export interface TokenVendingServiceProps {
  /** Provider entries as a providers file holds them; validated here, so a bad file fails `cdk synth`. */
  readonly providers: readonly unknown[];
  /**
   * Accounts whose principals the API's resource policy admits. Each caller must still be allowed by its own
   * IAM policy ({@link TokenVendingService.grantVend}) and by the provider's `callers`.
   * @default the stack's own account
   */
  readonly allowedAccounts?: readonly string[];
  /**
   * IAM role or user ARNs the resource policy admits, beside (or, with no `allowedAccounts`, instead of)
   * whole accounts: for a tighter gate than an account.
   * @default none
   */
  readonly allowedPrincipalArns?: readonly string[];
  /** @default { type: 'regional' } */
  readonly endpoint?: ApiEndpoint;
  /**
   * Create one Secrets Manager secret per provider (holding a random placeholder until an operator puts the
   * real value), or reference existing secrets by the entries' `secretId` (a name or a complete ARN).
   * @default true
   */
  readonly createSecrets?: boolean;
  /** Encrypt the table with this customer-managed key instead of an AWS-managed one. @default AWS-managed key */
  readonly tableEncryptionKey?: kms.IKey;
  /** @default true */
  readonly pointInTimeRecovery?: boolean;
  /** What happens to the table and secrets when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** @default 512 (RSA signing for private_key_jwt and TLS both want CPU, which scales with memory) */
  readonly memorySize?: number;
  /** Caps the function's concurrency, and so the load it can put on the table. @default no reservation */
  readonly reservedConcurrentExecutions?: number;
  /** X-Ray tracing for the function and the API stage. @default false */
  readonly tracing?: boolean;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Stage throttling. @default { rateLimit: 100, burstLimit: 200 } */
  readonly throttling?: { readonly rateLimit: number; readonly burstLimit: number };
  /** @default 'live' */
  readonly stageName?: string;
  /** Where alarms send notifications. @default alarms without actions */
  readonly alarmTopic?: sns.ITopic;
}

/** Upstream failures per 5 minutes before the alarm fires. */
const UPSTREAM_FAILURE_THRESHOLD = 5;

/**
 * The token vending service: an IAM-authorized REST API, the vend function, its DynamoDB token cache, one
 * Secrets Manager secret per provider, logs, alarms and a dashboard. Secure by default: every method needs
 * SigV4, the resource policy admits only the configured accounts, the function may read exactly the
 * providers' secrets and use exactly its table.
 */
export class TokenVendingService extends Construct {
  public readonly api: apigateway.RestApi;
  public readonly function: nodejs.NodejsFunction;
  public readonly table: dynamodb.Table;
  public readonly secrets: ReadonlyMap<string, secretsmanager.ISecret>;
  public readonly providers: readonly ProviderConfig[];
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: TokenVendingServiceProps) {
    super(scope, id);
    this.providers = parseProviderConfig({ providers: props.providers }, `${this.node.path} providers`);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const stageName = props.stageName ?? 'live';

    this.table = new dynamodb.Table(this, 'TokenTable', {
      partitionKey: { name: TOKEN_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TOKEN_TABLE.ttlAttribute,
      ...(props.tableEncryptionKey
        ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.tableEncryptionKey }
        : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      removalPolicy,
    });
    if (props.pointInTimeRecovery === false) {
      acknowledge(
        this.table,
        'AwsSolutions-DDB3',
        'The table is a cache of tokens the providers can reissue; PITR is off by choice here.',
      );
    }

    this.secrets = new Map(
      this.providers.map((provider) => [provider.secretId, this.secretFor(provider, props, removalPolicy)]),
    );

    const logGroup = new logs.LogGroup(this, 'FunctionLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });
    const role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Token vending function: its log group, its table, the secrets of its providers',
    });
    logGroup.grantWrite(role);

    this.function = new nodejs.NodejsFunction(this, 'VendFunction', {
      entry: join(__dirname, '..', 'lambda', 'index.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      // At worst a vend waits 12 s for a dead lease holder, then makes its own grant in 10 s: 28 s stays
      // inside API Gateway's 29 s, so callers always get the service's own answer.
      timeout: Duration.seconds(28),
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      ...(props.reservedConcurrentExecutions === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      environment: {
        TVM_TABLE: this.table.tableName,
        POWERTOOLS_SERVICE_NAME: 'token-vending',
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        minify: FUNCTION_BUNDLE.minify,
        sourceMap: FUNCTION_BUNDLE.sourceMap,
        target: FUNCTION_BUNDLE.target,
        format: nodejs.OutputFormat.CJS,
        externalModules: [...FUNCTION_BUNDLE.externalModules],
        // The providers file travels inside the code asset: configuration, never in the environment.
        commandHooks: providersFileHook(this.providers),
      },
    });
    if (props.tracing) {
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        'X-Ray trace submission does not support resource-level permissions.',
        'Resource::*',
      );
    }

    // Exactly what the function does with its table: read a token, evict one, and (conditional UpdateItem)
    // take a lease, write a token and give the lease back.
    this.table.grant(this.function, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    for (const secret of this.secrets.values()) {
      secret.grantRead(this.function);
    }

    this.api = this.restApi(props, stageName);
    this.alarms = this.createAlarms(props, logGroup);
    this.dashboard = this.createDashboard();
  }

  /**
   * Lets `grantee` vend from one provider: `execute-api:Invoke` on exactly that provider's POST and DELETE
   * and on `GET /v1/providers`.
   */
  public grantVend(grantee: iam.IGrantable & IConstruct, providerId: string): iam.Grant {
    if (!this.providers.some((provider) => provider.id === providerId)) {
      throw new Error(`grantVend: no provider "${providerId}" in ${this.node.path}`);
    }
    return grantVend(
      grantee,
      {
        restApiId: this.api.restApiId,
        stageName: this.api.deploymentStage.stageName,
        account: Stack.of(this).account,
        region: Stack.of(this).region,
      },
      providerId,
    );
  }

  private secretFor(
    provider: ProviderConfig,
    props: TokenVendingServiceProps,
    removalPolicy: RemovalPolicy,
  ): secretsmanager.ISecret {
    const id = `Secret-${provider.id}`;
    if (props.createSecrets === false) {
      return provider.secretId.startsWith('arn:')
        ? secretsmanager.Secret.fromSecretCompleteArn(this, id, provider.secretId)
        : secretsmanager.Secret.fromSecretNameV2(this, id, provider.secretId);
    }
    const secret = new secretsmanager.Secret(this, id, {
      secretName: provider.secretId,
      description: `OAuth client credentials for provider ${provider.id}: {"client_id","client_secret"} or {"client_id","private_key","key_id"}`,
      removalPolicy,
    });
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'The provider issues these client credentials; they are rotated with the provider by hand, and an invalid_client answer makes the function re-read the secret at once.',
    );
    return secret;
  }

  private restApi(props: TokenVendingServiceProps, stageName: string): apigateway.RestApi {
    const stack = Stack.of(this);
    const endpoint = props.endpoint ?? { type: 'regional' };
    const roles = props.allowedPrincipalArns ?? [];
    const accounts =
      props.allowedAccounts && props.allowedAccounts.length > 0
        ? props.allowedAccounts
        : roles.length > 0
          ? []
          : [stack.account];
    const statements = [
      new iam.PolicyStatement({
        effect: iam.Effect.ALLOW,
        principals: [
          ...accounts.map((account) => new iam.AccountPrincipal(account)),
          ...roles.map((arn) => new iam.ArnPrincipal(arn)),
        ],
        actions: ['execute-api:Invoke'],
        resources: ['execute-api:/*'],
      }),
    ];
    if (endpoint.type === 'private') {
      statements.push(
        new iam.PolicyStatement({
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['execute-api:Invoke'],
          resources: ['execute-api:/*'],
          conditions: {
            StringNotEquals: { 'aws:SourceVpce': endpoint.vpcEndpoints.map((vpce) => vpce.vpcEndpointId) },
          },
        }),
      );
    }
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    const api = new apigateway.RestApi(this, 'Api', {
      description: 'Token vending service: SigV4-signed calls get OAuth bearer tokens for third-party APIs',
      endpointConfiguration:
        endpoint.type === 'private'
          ? { types: [apigateway.EndpointType.PRIVATE], vpcEndpoints: [...endpoint.vpcEndpoints] }
          : { types: [apigateway.EndpointType.REGIONAL] },
      policy: new iam.PolicyDocument({ statements }),
      defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.DESTROY,
      deployOptions: {
        stageName,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        // Errors only, never request or response bodies: a response body holds a token.
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: props.tracing ?? false,
        throttlingRateLimit: props.throttling?.rateLimit ?? 100,
        throttlingBurstLimit: props.throttling?.burstLimit ?? 200,
      },
    });
    this.addGatewayResponses(api);

    const integration = new apigateway.LambdaIntegration(this.function, { proxy: true });
    const v1 = api.root.addResource('v1');
    const token = v1.addResource('tokens').addResource('{provider}');
    token.addMethod('POST', integration);
    token.addMethod('DELETE', integration);
    v1.addResource('providers').addMethod('GET', integration);

    acknowledge(
      api,
      'AwsSolutions-APIG2',
      'The function validates every body against its schema and answers in the documented error shape; a gateway model would duplicate it with a different error shape.',
    );
    acknowledge(
      api,
      'AwsSolutions-APIG3',
      'An internal, IAM-authorized API whose resource policy admits only configured accounts; attach a WAF web ACL where a deployment wants one.',
    );
    acknowledge(
      api,
      'AwsSolutions-COG4',
      'Callers are AWS principals authorized with SigV4 (AWS_IAM), not Cognito users.',
    );
    for (const method of api.methods) {
      acknowledge(
        method,
        'AwsSolutions-COG4',
        'Callers are AWS principals authorized with SigV4 (AWS_IAM), not Cognito users.',
      );
    }
    const cloudWatchRole = api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      acknowledge(
        cloudWatchRole,
        'AwsSolutions-IAM4',
        'The account-level logging role of API Gateway uses the AWS managed policy made for it.',
        'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs',
      );
    }
    return api;
  }

  /** API Gateway's own refusals answer in the service's error shape, as the local gateway does. */
  private addGatewayResponses(api: apigateway.RestApi): void {
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
      [
        apigateway.ResponseType.THROTTLED,
        'upstream_unavailable',
        '"Too many requests to the token vending service"',
      ],
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

  private createAlarms(props: TokenVendingServiceProps, logGroup: logs.ILogGroup): cloudwatch.Alarm[] {
    const upstreamFailures = new logs.MetricFilter(this, 'UpstreamFailures', {
      logGroup,
      // Failed vends, and vends that the provider failed but a cached token saved.
      filterPattern: logs.FilterPattern.any(
        logs.FilterPattern.stringValue('$.error', '=', 'upstream_*'),
        logs.FilterPattern.stringValue('$.upstream_failure', '=', 'upstream_*'),
      ),
      metricNamespace: 'TokenVending',
      metricName: 'UpstreamFailures',
      metricValue: '1',
      defaultValue: 0,
    }).metric({ statistic: 'Sum', period: Duration.minutes(5) });

    const alarms = [
      this.function.metricErrors({ period: Duration.minutes(5) }).createAlarm(this, 'FunctionErrors', {
        alarmDescription: 'The vend function failed (a bug or a timeout): see its log group.',
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      this.function.metricThrottles({ period: Duration.minutes(5) }).createAlarm(this, 'FunctionThrottles', {
        alarmDescription:
          'The vend function was throttled: raise its reserved concurrency or the account limit.',
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      this.api
        .metricServerError({ period: Duration.minutes(5), statistic: 'Sum' })
        .createAlarm(this, 'Api5xx', {
          alarmDescription: 'The API answered 5xx: upstream providers unavailable, or internal errors.',
          threshold: 5,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      upstreamFailures.createAlarm(this, 'UpstreamFailuresAlarm', {
        alarmDescription:
          'Providers refused, timed out or failed: the log lines with error=upstream_* name which.',
        threshold: UPSTREAM_FAILURE_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    if (props.alarmTopic) {
      for (const alarm of alarms) alarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
    }
    return alarms;
  }

  private createDashboard(): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-token-vending`,
    });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Requests and errors',
        left: [this.api.metricCount(), this.api.metricClientError(), this.api.metricServerError()],
      }),
      new cloudwatch.GraphWidget({
        title: 'Latency (p50, p99)',
        left: [this.api.metricLatency({ statistic: 'p50' }), this.api.metricLatency({ statistic: 'p99' })],
        right: [this.function.metricDuration({ statistic: 'p99' })],
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...this.alarms] }),
    );
    return dashboard;
  }
}

/** Records a cdk-nag finding as acknowledged, with the reason a reviewer would ask for. */
function acknowledge(scope: IConstruct, id: string, reason: string, finding?: string): void {
  Validations.of(scope).acknowledge({ id: finding ? `${id}[${finding}]` : id, reason });
}

/** Writes the validated providers beside the bundle as `providers.json`, where the function reads them. */
function providersFileHook(providers: readonly ProviderConfig[]): nodejs.ICommandHooks {
  const dir = mkdtempSync(join(tmpdir(), 'tvm-providers-'));
  const file = join(dir, 'providers.json');
  writeFileSync(file, `${JSON.stringify({ providers }, null, 2)}\n`);
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir, outputDir) => [`cp "${file}" "${outputDir}/providers.json"`],
  };
}
