import assert from 'node:assert/strict';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { ProviderEntry } from '../../packages/construct/src/provider-entry';
import { TokenVendingSettingsError } from '../../packages/construct/src/settings-error';
import { ACCOUNT, PROVIDERS, policyStatements, synthService } from './support';

describe('Construct: TokenVendingService', () => {
  describe('table', () => {
    it('is on-demand, keyed by the cache key, with TTL on the expiry attribute, encrypted and retained', () => {
      const { template } = synthService();
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: Match.objectLike({
          BillingMode: 'PAY_PER_REQUEST',
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
          SSESpecification: { SSEEnabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        }),
      });
    });

    it('uses a customer-managed key when given one, and may be destroyed in a sandbox', () => {
      const { template } = synthService((stack) => ({
        tableEncryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }),
        removalPolicy: RemovalPolicy.DESTROY,
        pointInTimeRecovery: false,
      }));
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Delete',
        Properties: Match.objectLike({
          SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false },
        }),
      });
    });
  });

  describe('function', () => {
    it('runs on the newest Node.js runtime on arm64 with chosen memory and timeout', () => {
      const { template } = synthService();
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        MemorySize: 512,
        Timeout: 28,
        Handler: 'index.handler',
        TracingConfig: Match.absent(),
        LoggingConfig: Match.objectLike({ LogFormat: 'JSON', LogGroup: Match.anyValue() }),
      });
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('gets only the table name, the sealing key id, the counter key secret ARN, the renewal queue URL and the accounts "*" admits from the environment, no secret', () => {
      const { template } = synthService();
      const [fn] = Object.values(template.findResources('AWS::Lambda::Function'));
      const variables = fn?.Properties.Environment.Variables as Record<string, unknown>;
      assert.deepEqual(Object.keys(variables).sort(), [
        'NODE_OPTIONS',
        'POWERTOOLS_SERVICE_NAME',
        'TVM_ANY_CALLER_ACCOUNTS',
        'TVM_COUNTER_KEY_SECRET_ARN',
        'TVM_RENEWAL_QUEUE_URL',
        'TVM_SEALING_KEY_ID',
        'TVM_TABLE',
      ]);
      assert.ok(
        !JSON.stringify(template.toJSON()).includes('client_secret"'),
        'no secret value in the template',
      );
    });

    it('seals tokens with a rotating key that only the function role may use, under its encryption context', () => {
      const { template } = synthService();
      const keys = Object.entries(template.findResources('AWS::KMS::Key'))
        .filter(([id]) => id.includes('TokenSealingKey'))
        .map(([, key]) => key);
      assert.equal(keys.length, 1);
      const key = keys[0]?.Properties as {
        EnableKeyRotation: boolean;
        KeyPolicy: {
          Statement: Array<{ Sid: string; Action: string[]; Principal: unknown; Condition?: unknown }>;
        };
      };
      assert.equal(key.EnableKeyRotation, true);
      const bySid = (sid: string) => key.KeyPolicy.Statement.find((statement) => statement.Sid === sid);
      const [administer, use] = [bySid('AdministerButNotUse'), bySid('SealAndOpenTokens')];
      assert.ok(administer && use);
      for (const action of [
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'kms:Encrypt',
        'kms:*',
        'kms:CreateGrant',
      ]) {
        assert.ok(!administer.Action.includes(action), `the account may administer, not use: ${action}`);
      }
      assert.deepEqual(use.Action, ['kms:GenerateDataKey', 'kms:Decrypt']);
      assert.match(JSON.stringify(use.Principal), /FunctionRole/);
      assert.match(JSON.stringify(use.Condition), /kms:EncryptionContext:service/);
    });

    it("grants the function the table's customer-managed key when one is given", () => {
      const { template } = synthService((stack) => ({
        tableEncryptionKey: new kms.Key(stack, 'TableKey', { enableKeyRotation: true }),
      }));
      const statements = policyStatements(template);
      assert.ok(
        statements.some(
          (statement) =>
            statement.Action.includes('kms:Decrypt') &&
            statement.Action.includes('kms:GenerateDataKey*') &&
            JSON.stringify(statement.Resource).includes('TableKey'),
        ),
        'the function may use the table key',
      );
    });

    it('lets only the function role, and a named break-glass role, read the secrets', () => {
      const { template } = synthService({ breakGlassRoleArn: 'arn:aws:iam::111122223333:role/break-glass' });
      const policies = Object.values(template.findResources('AWS::SecretsManager::ResourcePolicy')).filter(
        (policy) => !JSON.stringify(policy.Properties.SecretId).includes('CallerCounterKey'),
      );
      assert.equal(policies.length, PROVIDERS.length);
      for (const policy of policies) {
        const [statement] = (
          policy.Properties.ResourcePolicy as { Statement: Array<Record<string, unknown>> }
        ).Statement;
        assert.equal(statement?.Effect, 'Deny');
        assert.deepEqual(statement?.Action, 'secretsmanager:GetSecretValue');
        const allowed = JSON.stringify(statement?.Condition);
        assert.match(allowed, /FunctionRole/);
        assert.match(allowed, /role\/break-glass/);
      }
    });

    it('reserves concurrency by default', () => {
      synthService().template.hasResourceProperties('AWS::Lambda::Function', {
        ReservedConcurrentExecutions: 100,
      });
    });

    it('offers tracing and reserved concurrency', () => {
      const { template } = synthService({ tracing: true, reservedConcurrentExecutions: 20 });
      template.hasResourceProperties('AWS::Lambda::Function', {
        TracingConfig: { Mode: 'Active' },
        ReservedConcurrentExecutions: 20,
      });
      template.hasResourceProperties('AWS::ApiGateway::Stage', { TracingEnabled: true });
    });
  });

  describe('API', () => {
    it('requires AWS_IAM on every method and has exactly the methods of docs/DESIGN.md', () => {
      const { template } = synthService();
      const methods = Object.values(template.findResources('AWS::ApiGateway::Method'));
      assert.deepEqual(methods.map((method) => method.Properties.HttpMethod).sort(), [
        'DELETE',
        'GET',
        'POST',
      ]);
      for (const method of methods) assert.equal(method.Properties.AuthorizationType, 'AWS_IAM');
      const paths = Object.values(template.findResources('AWS::ApiGateway::Resource')).map(
        (resource) => resource.Properties.PathPart,
      );
      assert.deepEqual(paths.sort(), ['providers', 'tokens', 'v1', '{provider}']);
    });

    const apiPolicy = (template: Template) => {
      const [api] = Object.values(template.findResources('AWS::ApiGateway::RestApi'));
      return api?.Properties.Policy as { Statement: Array<Record<string, unknown>> };
    };

    it("admits exactly the principals the providers' callers name, and denies everyone else", () => {
      const { template } = synthService();
      const role = `arn:aws:iam::${ACCOUNT}:role/orders-service`;
      assert.deepEqual(apiPolicy(template).Statement, [
        {
          Sid: 'Callers',
          Effect: 'Allow',
          Action: 'execute-api:Invoke',
          Principal: { AWS: role },
          Resource: 'execute-api:/*',
        },
        {
          Sid: 'NobodyElse',
          Effect: 'Deny',
          Action: 'execute-api:Invoke',
          Principal: { AWS: '*' },
          Resource: 'execute-api:/*',
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': [role] } },
        },
      ]);
    });

    it('admits a caller in another account by its role, not by its account', () => {
      const orders = 'arn:aws:iam::444455556666:role/orders';
      const { template } = synthService({
        providers: [{ ...PROVIDERS[0], callers: [orders] } as ProviderEntry],
      });
      const policy = JSON.stringify(apiPolicy(template));
      assert.ok(policy.includes(orders));
      assert.ok(!policy.includes(':root'), 'no whole account is admitted');
    });

    it('admits whole accounts only for a "*" caller: the stack\'s own, or allowedAccounts', () => {
      const anyone = [{ ...PROVIDERS[0], callers: ['*'] } as ProviderEntry];
      const own = JSON.stringify(apiPolicy(synthService({ providers: anyone }).template));
      assert.match(own, new RegExp(`:iam::${ACCOUNT}:root`));
      assert.match(own, /"aws:PrincipalAccount":\["111122223333"\]/);
      const named = JSON.stringify(
        apiPolicy(synthService({ providers: anyone, allowedAccounts: ['444455556666'] }).template),
      );
      assert.match(named, /:iam::444455556666:root/);
      assert.ok(!named.includes(ACCOUNT));
    });

    it('tells the function the same accounts, so that it refuses a "*" provider to every other caller', () => {
      const anyone = [{ ...PROVIDERS[0], callers: ['*'] } as ProviderEntry];
      const accountsOf = (template: Template) => {
        const [fn] = Object.values(template.findResources('AWS::Lambda::Function')).filter(
          (resource) => resource.Properties.Environment?.Variables?.TVM_TABLE !== undefined,
        );
        return fn?.Properties.Environment.Variables.TVM_ANY_CALLER_ACCOUNTS;
      };
      assert.equal(accountsOf(synthService({ providers: anyone }).template), ACCOUNT);
      assert.equal(accountsOf(synthService().template), ACCOUNT, 'set whether or not an entry says "*"');
      assert.equal(
        accountsOf(
          synthService({ providers: anyone, allowedAccounts: ['444455556666', '777788889999'] }).template,
        ),
        '444455556666,777788889999',
      );
    });

    it('admits nobody while no provider names a caller', () => {
      const closed = PROVIDERS.map((provider) => ({ ...provider, callers: [] }));
      assert.deepEqual(apiPolicy(synthService({ providers: closed }).template).Statement, [
        {
          Sid: 'NoCallersYet',
          Effect: 'Deny',
          Action: 'execute-api:Invoke',
          Principal: { AWS: '*' },
          Resource: 'execute-api:/*',
        },
      ]);
    });

    it('refuses a caller outside allowedAccounts, listed with every other problem, each once', () => {
      const entries = [
        { ...PROVIDERS[0], callers: ['arn:aws:iam::444455556666:role/orders'] },
        {
          id: 'mp',
          tokenEndpoint: 'https://maskinporten.example/token',
          grantType: 'jwt_bearer',
          clientAuth: 'none',
          secretId: 'mp',
          assertion: { audience: 'https://maskinporten.example/' },
        },
      ] as ProviderEntry[];
      let message = '';
      try {
        synthService({ providers: entries, allowedAccounts: [ACCOUNT], memorySize: 64 });
      } catch (error) {
        assert.equal((error as Error).name, 'TokenVendingSettingsError');
        message = (error as Error).message;
      }
      const lines = message.split('\n');
      assert.match(lines[0] ?? '', /3 problems in the settings/);
      assert.deepEqual(lines.slice(1).sort(), [
        '  - memorySize: must be a whole number of MB from 128 to 10240',
        '  - providers["alpha"].callers[0]: arn:aws:iam::444455556666:role/orders is in account 444455556666, which allowedAccounts (111122223333) does not admit',
        '  - providers["mp"].defaultScopes: must name at least one scope with grantType "jwt_bearer": the provider refuses a grant without one',
      ]);
    });

    it('can be PRIVATE through VPC endpoints given by id, as a settings file names them', () => {
      const { template } = synthService({
        endpoint: { type: 'private', vpcEndpoints: ['vpce-0123456789abcdef0'] },
      });
      template.hasResourceProperties('AWS::ApiGateway::RestApi', {
        EndpointConfiguration: { Types: ['PRIVATE'], VpcEndpointIds: ['vpce-0123456789abcdef0'] },
      });
    });

    it('can be PRIVATE, reachable only through the given VPC endpoint', () => {
      const { template } = synthService((stack) => {
        const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
        const endpoint = vpc.addInterfaceEndpoint('ExecuteApi', {
          service: ec2.InterfaceVpcEndpointAwsService.APIGATEWAY,
        });
        return { endpoint: { type: 'private', vpcEndpoints: [endpoint] } };
      });
      template.hasResourceProperties('AWS::ApiGateway::RestApi', {
        EndpointConfiguration: { Types: ['PRIVATE'], VpcEndpointIds: [Match.anyValue()] },
        Policy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Condition: { StringNotEquals: { 'aws:SourceVpce': [Match.anyValue()] } },
            }),
          ]),
        },
      });
    });

    it('logs access as JSON, throttles the stage and logs no bodies', () => {
      const { template } = synthService({ throttling: { rateLimit: 10, burstLimit: 20 } });
      template.hasResourceProperties('AWS::ApiGateway::Stage', {
        StageName: 'live',
        AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
        MethodSettings: [
          Match.objectLike({
            DataTraceEnabled: false,
            LoggingLevel: 'ERROR',
            ThrottlingRateLimit: 10,
            ThrottlingBurstLimit: 20,
          }),
        ],
      });
    });

    it("answers API Gateway's own refusals in the service's error shape", () => {
      const { template } = synthService();
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: 'MISSING_AUTHENTICATION_TOKEN',
        StatusCode: '403',
        ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"error":"access_denied"') },
      });
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: 'INVALID_SIGNATURE',
        ResponseTemplates: { 'application/json': Match.stringLikeRegexp('\\$context.requestId') },
      });
    });
  });

  describe('secrets and IAM', () => {
    it('creates one secret per provider, named by its secretId, with no value in the template', () => {
      const { template } = synthService();
      const secrets = Object.entries(template.findResources('AWS::SecretsManager::Secret'))
        .filter(([id]) => !id.includes('CallerCounterKey'))
        .map(([, secret]) => secret);
      assert.deepEqual(secrets.map((secret) => secret.Properties.Name).sort(), [
        'token-vending/alpha',
        'token-vending/beta',
      ]);
      for (const secret of secrets) assert.equal(secret.Properties.SecretString, undefined);
    });

    it('lets the function use exactly its table and its secrets, with no wildcard action or resource', () => {
      const { template } = synthService();
      const statements = policyStatements(template);
      const dynamo = statements.filter((statement) =>
        statement.Action.some((action) => action.startsWith('dynamodb:')),
      );
      assert.equal(dynamo.length, 1);
      assert.deepEqual(dynamo[0]?.Action.sort(), [
        'dynamodb:BatchGetItem',
        'dynamodb:GetItem',
        'dynamodb:UpdateItem',
      ]);
      assert.equal(dynamo[0]?.Resource.length, 1);
      assert.match(JSON.stringify(dynamo[0]?.Resource), /TokenTable.*Arn/);
      const secrets = statements.filter((statement) =>
        statement.Action.some((action) => action.startsWith('secretsmanager:')),
      );
      for (const statement of secrets) {
        assert.deepEqual([...statement.Action].sort(), [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
        ]);
      }
      const secretResources = secrets.flatMap((statement) => statement.Resource);
      assert.equal(secretResources.length, 3, 'exactly the two providers’ secrets and the counter key');
      assert.match(JSON.stringify(secretResources), /Secretalpha.*Secretbeta/);
      assert.match(JSON.stringify(secretResources), /CallerCounterKey/);
      for (const statement of statements) {
        assert.ok(
          !statement.Action.some((action) => action.includes('*')),
          `wildcard action in ${statement.Action}`,
        );
        if (statement.Action.some((action) => /^(dynamodb|secretsmanager):/.test(action))) {
          assert.ok(!statement.Resource.includes('*'), 'no * resource for table or secrets');
        }
      }
    });

    it('references existing secrets by name instead of creating them', () => {
      const { template } = synthService({ createSecrets: false });
      // Only the counter key, which the stack always generates.
      template.resourceCountIs('AWS::SecretsManager::Secret', 1);
      const secrets = policyStatements(template).filter((statement) =>
        statement.Action.includes('secretsmanager:GetSecretValue'),
      );
      assert.match(JSON.stringify(secrets[0]?.Resource), /secret:token-vending\/alpha-\?\?\?\?\?\?/);
    });

    it('grants a caller execute-api:Invoke on exactly one provider’s paths', () => {
      let role: iam.Role | undefined;
      const { service, template } = synthService(
        {},
        {
          extend: (stack, built) => {
            role = new iam.Role(stack, 'OrdersRole', { assumedBy: new iam.AccountPrincipal(ACCOUNT) });
            built.grantVend(role, 'alpha');
          },
        },
      );
      const invoke = policyStatements(template).filter((statement) =>
        statement.Action.includes('execute-api:Invoke'),
      );
      assert.equal(invoke.length, 1);
      const resources = JSON.stringify(invoke[0]?.Resource);
      assert.equal(invoke[0]?.Resource.length, 3);
      for (const path of ['/POST/v1/tokens/alpha', '/DELETE/v1/tokens/alpha', '/GET/v1/providers']) {
        assert.ok(resources.includes(path), `${path} in ${resources}`);
      }
      assert.ok(!resources.includes('beta'));
      assert.ok(role);
      assert.throws(() => service.grantVend(role as iam.Role, 'gamma'), /no provider "gamma"/);
    });
  });

  describe('monitoring', () => {
    it('alarms on the function, the API, the table being bypassed, KMS failing, denials, the refresher and each provider, and has a dashboard', () => {
      const { template } = synthService();
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
      const metrics = alarms.map((alarm) => alarm.Properties.MetricName).sort();
      assert.deepEqual(metrics, [
        '5XXError',
        // The renewal queue's dead letters.
        'ApproximateNumberOfMessagesVisible',
        'Denials',
        'Errors',
        'RefreshFailed',
        'RefreshMarksRejected',
        'RefreshNotStarted',
        'SealingFailures',
        'TableErrors',
        'Throttles',
        ...PROVIDERS.map(() => 'TokensMinted'),
        ...PROVIDERS.map(() => 'UpstreamFailures'),
      ]);
      template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    });

    it('gives every alarm an action, the alarm topic, which mails the address it is given', () => {
      const { template } = synthService({ alarmEmail: 'oncall@example.com' });
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
      assert.ok(alarms.length > 0);
      for (const alarm of alarms) {
        const actions = alarm.Properties.AlarmActions as unknown[];
        assert.equal(actions.length, 1, String(alarm.Properties.AlarmDescription));
        assert.match(JSON.stringify(actions), /AlarmTopic/);
      }
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'oncall@example.com',
      });
      template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    });

    it("reads the function's own metrics, in its namespace, per provider", () => {
      const { template } = synthService();
      const own = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
        (alarm) => !String(alarm.Properties.Namespace).startsWith('AWS/'),
      );
      // TableErrors, SealingFailures, Denials, RefreshNotStarted, RefreshFailed and RefreshMarksRejected, and
      // per provider UpstreamFailures and the token pace.
      assert.equal(own.length, 6 + 2 * PROVIDERS.length);
      for (const alarm of own) {
        assert.equal(alarm.Properties.Namespace, 'TokenVending');
        const dimensions = alarm.Properties.Dimensions as Array<{ Name: string; Value: string }>;
        assert.deepEqual(
          dimensions.find((dimension) => dimension.Name === 'service')?.Value,
          'token-vending',
        );
      }
    });

    it('alarms when refresher runs leave keys not started in 3 of 5 minutes, and when 5 renewals fail in 5 minutes', () => {
      const { template } = synthService();
      const alarm = (name: string) => {
        const found = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
          (candidate) => candidate.Properties.AlarmName === `token-vending-test-${name}`,
        );
        assert.equal(found.length, 1, name);
        return found[0]?.Properties as Record<string, unknown>;
      };
      const behind = alarm('RefresherBehind');
      assert.deepEqual(
        [behind.MetricName, behind.Namespace, behind.Statistic, behind.Period, behind.Threshold],
        ['RefreshNotStarted', 'TokenVending', 'Sum', 60, 0],
      );
      assert.equal(behind.ComparisonOperator, 'GreaterThanThreshold');
      assert.equal(behind.EvaluationPeriods, 5);
      assert.equal(behind.DatapointsToAlarm, 3);
      assert.equal(behind.TreatMissingData, 'notBreaching');
      // The service's runs, whoever's keys they renewed: no provider, caller or key in the dimensions.
      assert.deepEqual(behind.Dimensions, [{ Name: 'service', Value: 'token-vending' }]);
      const failures = alarm('RefreshFailures');
      assert.deepEqual(
        [failures.MetricName, failures.Statistic, failures.Period, failures.Threshold],
        ['RefreshFailed', 'Sum', 300, 5],
      );
      assert.equal(failures.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
      assert.deepEqual(failures.Dimensions, [{ Name: 'service', Value: 'token-vending' }]);
      for (const properties of [behind, failures]) {
        assert.match(JSON.stringify(properties.AlarmActions), /AlarmTopic/);
        assert.match(JSON.stringify(properties.OKActions), /AlarmTopic/);
      }
    });

    it("draws the refresher's renewed, failed and not-started keys per run, and its run time against its 20 s", () => {
      const { template } = synthService();
      const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
      // The body is a join of JSON text and tokens (the region): tokens stand inside strings, so a word parses.
      assert.ok(dashboard, 'a dashboard');
      const [, parts] = dashboard.Properties.DashboardBody['Fn::Join'] as [string, unknown[]];
      const body = JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('')) as {
        widgets: Array<{ properties: { title?: string; metrics?: unknown[][]; annotations?: unknown } }>;
      };
      const widget = body.widgets.find(({ properties }) => properties.title === 'Refresher: keys per run');
      assert.ok(widget, body.widgets.map(({ properties }) => properties.title).join(', '));
      const metrics = widget.properties.metrics ?? [];
      assert.deepEqual(
        metrics.map((metric) => metric.slice(0, 4)),
        ['RefreshRenewed', 'RefreshFailed', 'RefreshNotStarted', 'RefreshRunDuration'].map((name) => [
          'TokenVending',
          name,
          'service',
          'token-vending',
        ]),
      );
      assert.deepEqual(
        metrics.map((metric) => metric[4]),
        [
          { label: 'renewed', period: 60, stat: 'Sum' },
          { label: 'failed', period: 60, stat: 'Sum' },
          { label: 'not started (left to the request path)', period: 60, stat: 'Sum' },
          { label: 'run (ms)', period: 60, stat: 'Maximum', yAxis: 'right' },
        ],
      );
      assert.match(JSON.stringify(widget.properties.annotations), /"value":20000/);
    });

    it('alarms at 80 % of the pace that spends a provider token quota', () => {
      const { template } = synthService({
        providers: [
          { ...(PROVIDERS[0] as (typeof PROVIDERS)[number]), tokenQuota: { tokens: 30_000, periodDays: 30 } },
        ],
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'TokensMinted',
        Threshold: 800,
        Period: 86_400,
      });
    });

    it('ships the Logs Insights queries of the audit trail', () => {
      const { template } = synthService();
      const queries = Object.values(template.findResources('AWS::Logs::QueryDefinition')).map((query) =>
        String(query.Properties.Name),
      );
      for (const name of ['who vended what', 'upstream failures by provider', 'denials']) {
        assert.ok(
          queries.some((query) => query.endsWith(`/token-vending/${name}`)),
          name,
        );
      }
    });
  });

  describe('configuration', () => {
    it('fails synth with every bad provider field listed', () => {
      assert.throws(
        () =>
          synthService({
            // Deliberately not a valid entry: the construct must refuse it.
            providers: [
              { ...PROVIDERS[0], tokenEndpoint: 'http://idp.example', clientAuth: 'magic' } as never,
            ],
          }),
        (error: unknown) =>
          error instanceof TokenVendingSettingsError &&
          error.problems.some((problem) => problem.includes('providers["alpha"].tokenEndpoint')) &&
          error.problems.some((problem) => problem.includes('providers["alpha"].clientAuth')),
      );
    });
  });
});
