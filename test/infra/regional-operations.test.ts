import assert from 'node:assert/strict';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import fc from 'fast-check';
import { ENVIRONMENTS, type EnvironmentSettings } from '../../infra/environments';
import { TokenVendingStack } from '../../infra/token-vending-stack';
import { METRIC } from '../../lambda/contracts/metrics';
import { type CustomDomain, customDomainProblems } from '../../packages/construct/src/custom-domain';
import {
  REPLICATION_LAG_THRESHOLD_MS,
  UNAVAILABLE_5XX_SHARE,
} from '../../packages/construct/src/service-monitoring';
import {
  TokenVendingService,
  type TokenVendingServiceProps,
} from '../../packages/construct/src/token-vending-service';
import { ACCOUNT, PROVIDERS, synthService } from './support';

const NORTH = 'eu-north-1';
const WEST = 'eu-west-1';
const REGIONS = [NORTH, WEST];
const DOMAIN: CustomDomain = {
  domainName: 'tvm.example.com',
  hostedZoneId: 'Z0123456789ABCDEFGHIJ',
  hostedZoneName: 'example.com',
};

/** One service per region in one app, each in its own regional stack, cdk-nag on. */
function synthRegions(props: Partial<TokenVendingServiceProps>, regions: readonly string[] = REGIONS) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  let primary: TokenVendingService | undefined;
  const stacks = regions.map((region) => {
    const stack = new Stack(app, `Service-${region}`, {
      env: { account: ACCOUNT, region },
      crossRegionReferences: true,
    });
    const service = new TokenVendingService(stack, 'TokenVending', {
      environment: 'test',
      providers: PROVIDERS,
      regions,
      ...(primary && regions.length > 1 ? { primary } : {}),
      ...props,
    });
    primary ??= service;
    return stack;
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return stacks.map((stack) => Template.fromStack(stack));
}

const dashboardBody = (template: Template) =>
  JSON.stringify(
    Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties.DashboardBody,
  );

describe('Monitoring per region', () => {
  it('alarms on replication latency to each other region, sustained above a minute', () => {
    const [north, west] = synthRegions({});
    for (const [template, other] of [
      [north, WEST],
      [west, NORTH],
    ] as const) {
      const alarms = Object.values(template?.findResources('AWS::CloudWatch::Alarm') ?? {}).filter(
        (alarm) => alarm.Properties.MetricName === 'ReplicationLatency',
      );
      assert.equal(
        alarms.length,
        1,
        `${other}: ${JSON.stringify(Object.keys(template?.findResources('AWS::CloudWatch::Alarm') ?? {}))}`,
      );
      const alarm = alarms[0]?.Properties;
      assert.equal(alarm.Namespace, 'AWS/DynamoDB');
      assert.equal(alarm.Threshold, REPLICATION_LAG_THRESHOLD_MS);
      assert.equal(alarm.Statistic, 'Average');
      assert.equal(alarm.Period, 60);
      assert.equal(alarm.EvaluationPeriods, 5);
      assert.equal(alarm.DatapointsToAlarm, 5);
      assert.equal(alarm.ComparisonOperator, 'GreaterThanThreshold');
      assert.equal(
        alarm.AlarmName,
        `token-vending-test-${other === WEST ? NORTH : WEST}-ReplicationLatency-${other}`,
      );
      const dimensions = alarm.Dimensions as Array<{ Name: string; Value: unknown }>;
      assert.deepEqual(dimensions.find((dimension) => dimension.Name === 'ReceivingRegion')?.Value, other);
      // The global table: by reference where it is made (the primary), by its shared name elsewhere.
      const tableName = dimensions.find((dimension) => dimension.Name === 'TableName')?.Value;
      assert.ok(
        tableName === 'token-vending-test' || /GlobalTokenTable/.test(JSON.stringify(tableName)),
        JSON.stringify(tableName),
      );
      assert.match(JSON.stringify(alarm.AlarmActions), /AlarmTopic/);
    }
  });

  it('shows replication latency and the share of table hits from the other region, per provider', () => {
    const [north] = synthRegions({});
    const body = dashboardBody(north as Template);
    assert.match(body, /Table replication latency/);
    assert.match(body, /AWS\/DynamoDB.*ReplicationLatency.*ReceivingRegion.*eu-west-1/);
    assert.match(body, /from another region/);
    PROVIDERS.forEach((provider, index) => {
      assert.ok(body.includes(`100 * peer${index} / table${index}`), provider.id);
    });
    assert.ok(body.includes(METRIC.peerTableHits));
    assert.match(body, /Vends.{1,12}cache.{1,12}table.{1,12}provider/);
  });

  it("alarms on each region's equal share of a provider's token quota, which the regions spend together", () => {
    const quotaPace = (templates: Template[]) =>
      templates.map(
        (template) =>
          Object.values(template.findResources('AWS::CloudWatch::Alarm')).find((alarm) =>
            String(alarm.Properties.AlarmName).endsWith('-TokenQuota-alpha'),
          )?.Properties.Threshold,
      );
    const providers = PROVIDERS.map((provider) =>
      provider.id === 'alpha' ? { ...provider, tokenQuota: { tokens: 3000, periodDays: 30 } } : provider,
    );
    assert.deepEqual(quotaPace(synthRegions({ providers })), [40, 40], 'half of 80 % of 100 a day each');
    assert.deepEqual(quotaPace([synthService({ providers }).template]), [80], 'one region: the whole pace');
  });

  it("names each region's alarms with its region, so the same alarm in two regions mails two subjects", () => {
    const templates = synthRegions({});
    const names = templates.map((template) =>
      Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) =>
        String(alarm.Properties.AlarmName),
      ),
    );
    REGIONS.forEach((region, index) => {
      assert.ok((names[index] ?? []).length > 5);
      for (const name of names[index] ?? [])
        assert.ok(name.startsWith(`token-vending-test-${region}-`), name);
    });
    assert.ok(names[0]?.includes(`token-vending-test-${NORTH}-FunctionErrors`));
    assert.ok(names[1]?.includes(`token-vending-test-${WEST}-FunctionErrors`));
    // One region keeps the names it had.
    const single = Object.values(synthService().template.findResources('AWS::CloudWatch::Alarm')).map(
      (alarm) => String(alarm.Properties.AlarmName),
    );
    assert.ok(single.includes('token-vending-test-FunctionErrors'));
  });

  it('changes nothing with one region: no replication alarm, no region widgets', () => {
    for (const props of [{}, { regions: [NORTH] }]) {
      const { template } = synthService(props);
      const metrics = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
        (alarm) => alarm.Properties.MetricName,
      );
      assert.ok(!metrics.includes('ReplicationLatency'));
      assert.ok(!dashboardBody(template).includes('ReplicationLatency'));
      assert.ok(!dashboardBody(template).includes(METRIC.peerTableHits));
    }
  });
});

describe('Custom domain', () => {
  it('gives each region a domain name, a certificate validated in the zone, a mapping and a latency record with a health check', () => {
    const templates = synthRegions({ customDomain: DOMAIN });
    templates.forEach((template, index) => {
      const region = REGIONS[index];
      template.hasResourceProperties('AWS::CertificateManager::Certificate', {
        DomainName: 'tvm.example.com',
        ValidationMethod: 'DNS',
        DomainValidationOptions: [{ DomainName: 'tvm.example.com', HostedZoneId: DOMAIN.hostedZoneId }],
      });
      template.hasResourceProperties('AWS::ApiGateway::DomainName', {
        DomainName: 'tvm.example.com',
        EndpointConfiguration: { Types: ['REGIONAL'] },
        SecurityPolicy: 'TLS_1_2',
      });
      template.resourceCountIs('AWS::ApiGateway::BasePathMapping', 1);
      const [record] = Object.values(template.findResources('AWS::Route53::RecordSet'));
      assert.equal(record?.Properties.Type, 'A');
      assert.equal(record?.Properties.Name, 'tvm.example.com.');
      assert.equal(record?.Properties.Region, region);
      assert.equal(record?.Properties.SetIdentifier, region);
      assert.match(JSON.stringify(record?.Properties.HealthCheckId), /RegionHealthCheck/);
      assert.match(JSON.stringify(record?.Properties.AliasTarget), /CustomDomain/);
      assert.equal(record?.Properties.AliasTarget.EvaluateTargetHealth, true);
      const [check] = Object.values(template.findResources('AWS::Route53::HealthCheck'));
      const config = check?.Properties.HealthCheckConfig;
      assert.equal(config.Type, 'CLOUDWATCH_METRIC');
      assert.equal(config.AlarmIdentifier.Region, region);
      assert.match(JSON.stringify(config.AlarmIdentifier.Name), /RegionUnavailable/);
      assert.equal(config.InsufficientDataHealthStatus, 'Unhealthy');
      const [alarm] = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
        (candidate) => candidate.Properties.AlarmName === `token-vending-test-${region}-RegionUnavailable`,
      );
      assert.equal(alarm?.Properties.MetricName, '5XXError');
      assert.equal(alarm?.Properties.Statistic, 'Average');
      assert.equal(alarm?.Properties.Threshold, UNAVAILABLE_5XX_SHARE);
      // The probe feeds it every minute: no data is a region that publishes nothing, not a healthy one.
      assert.equal(alarm?.Properties.TreatMissingData, 'breaching');
    });
  });

  it("probes each region's own API once a minute, signed by a role that may call GET /v1/providers alone", () => {
    const templates = synthRegions({ customDomain: DOMAIN });
    for (const template of templates) {
      const roles = template.findResources('AWS::IAM::Role', {
        Properties: {
          AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'events.amazonaws.com' } }] },
        },
      });
      const roleIds = Object.keys(roles).filter((id) => id.includes('RegionProbeRole'));
      assert.equal(roleIds.length, 1);
      const roleId = roleIds[0] as string;
      const roleArn = { 'Fn::GetAtt': [roleId, 'Arn'] };
      // Its whole permission: execute-api:Invoke on exactly this API's stage, method and path.
      const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter(
        (policy) => JSON.stringify(policy.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
      );
      assert.equal(policies.length, 1);
      const statements = policies[0]?.Properties.PolicyDocument.Statement;
      assert.equal(statements.length, 1);
      assert.equal(statements[0].Action, 'execute-api:Invoke');
      const apiId = Object.keys(template.findResources('AWS::ApiGateway::RestApi'))[0];
      const stageId = Object.keys(template.findResources('AWS::ApiGateway::Stage'))[0];
      const region = REGIONS[templates.indexOf(template)];
      assert.deepEqual(statements[0].Resource, {
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            `:execute-api:${region}:${ACCOUNT}:`,
            { Ref: apiId },
            '/',
            { Ref: stageId },
            '/GET/v1/providers',
          ],
        ],
      });
      const methodArn = JSON.stringify(statements[0].Resource);
      assert.equal(roles[roleId]?.Properties.ManagedPolicyArns, undefined);
      // The rule: every minute, its own API's method as target, signed with that role, never retried.
      const rules = Object.values(template.findResources('AWS::Events::Rule')).filter(
        (rule) =>
          rule.Properties.ScheduleExpression === 'rate(1 minute)' &&
          JSON.stringify(rule.Properties.Targets).includes('execute-api'),
      );
      assert.equal(rules.length, 1);
      const [target] = rules[0]?.Properties.Targets ?? [];
      assert.deepEqual(target.RoleArn, roleArn);
      assert.equal(JSON.stringify(target.Arn), methodArn);
      assert.deepEqual(target.RetryPolicy, { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 });
      // The API's resource policy admits the role on that method only, and exempts it from nothing else.
      const [api] = Object.values(template.findResources('AWS::ApiGateway::RestApi'));
      const policy = api?.Properties.Policy.Statement as Array<Record<string, unknown>>;
      const allow = policy.find((statement) => statement.Sid === 'RegionProbe');
      assert.deepEqual(allow?.Principal, { AWS: roleArn });
      assert.equal(allow?.Effect, 'Allow');
      assert.equal(allow?.Resource, 'execute-api:/live/GET/v1/providers');
      const rest = policy.find((statement) => statement.Sid === 'RegionProbeNothingElse');
      assert.equal(rest?.Effect, 'Deny');
      assert.equal(rest?.NotResource, 'execute-api:/live/GET/v1/providers');
      assert.deepEqual(rest?.Condition, { ArnEquals: { 'aws:PrincipalArn': roleArn } });
      const callers = policy.find((statement) => statement.Sid === 'Callers');
      assert.ok(!JSON.stringify(callers).includes(roleId), 'not a caller of any provider');
    }
  });

  it('probes nothing without a custom domain over several regions', () => {
    const templates = [...synthRegions({}), synthService({ customDomain: DOMAIN }).template];
    for (const template of templates) {
      assert.ok(!JSON.stringify(template.toJSON()).includes('RegionProbe'));
    }
  });

  it('routes by failover with the primary first, and takes given certificates by region', () => {
    const certificateArns: Record<string, string> = {
      [NORTH]: `arn:aws:acm:${NORTH}:${ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555`,
      [WEST]: `arn:aws:acm:${WEST}:${ACCOUNT}:certificate/66666666-7777-8888-9999-000000000000`,
    };
    const templates = synthRegions({ customDomain: { ...DOMAIN, routing: 'failover', certificateArns } });
    templates.forEach((template, index) => {
      const region = REGIONS[index] as string;
      template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
      template.hasResourceProperties('AWS::ApiGateway::DomainName', {
        RegionalCertificateArn: certificateArns[region],
      });
      const [record] = Object.values(template.findResources('AWS::Route53::RecordSet'));
      assert.equal(record?.Properties.Failover, index === 0 ? 'PRIMARY' : 'SECONDARY');
      assert.equal(record?.Properties.Region, undefined);
    });
  });

  it("is an environment setting: the stack passes the environment's customDomain to the service", () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const settings: EnvironmentSettings = {
      ...(ENVIRONMENTS.sandbox as EnvironmentSettings),
      customDomain: DOMAIN,
    };
    const stack = new TokenVendingStack(app, 'TokenVending-sandbox', {
      settings,
      env: { account: ACCOUNT, region: NORTH },
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::ApiGateway::DomainName', { DomainName: DOMAIN.domainName });
    template.hasResourceProperties('AWS::Route53::RecordSet', { Name: `${DOMAIN.domainName}.` });
    const outputs = template.findOutputs('CustomDomainUrl');
    assert.match(JSON.stringify(outputs), /https:\/\/.*CustomDomain/);
  });

  it('with one region: one plain alias record, no health check', () => {
    const { template } = synthService({ customDomain: DOMAIN }, { nag: true });
    const [record] = Object.values(template.findResources('AWS::Route53::RecordSet'));
    assert.equal(record?.Properties.SetIdentifier, undefined);
    assert.equal(record?.Properties.HealthCheckId, undefined);
    template.resourceCountIs('AWS::Route53::HealthCheck', 0);
    template.resourceCountIs('AWS::ApiGateway::DomainName', 1);
  });

  it('refuses, listing every problem, a name outside its zone, failover over three regions, a missing or foreign certificate', () => {
    assert.throws(
      () =>
        synthRegions(
          {
            customDomain: {
              ...DOMAIN,
              domainName: 'tvm.example.org',
              routing: 'failover',
              certificateArns: { [NORTH]: `arn:aws:acm:${WEST}:${ACCOUNT}:certificate/abc` },
            },
          },
          [NORTH, WEST, 'eu-central-1'],
        ),
      (error: Error) =>
        error.name === 'TokenVendingSettingsError' &&
        /not in the zone example\.com/.test(error.message) &&
        /"failover" has one primary and one secondary: 3 regions/.test(error.message) &&
        /certificateArns\.eu-north-1 is not an ACM certificate of eu-north-1/.test(error.message),
    );
    assert.throws(
      () => synthService({ customDomain: { ...DOMAIN, certificateArns: {} } }),
      /names no certificate for eu-north-1/,
    );
  });

  it('takes exactly the DNS names inside the zone (property)', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
    const zone = fc.array(label, { minLength: 2, maxLength: 3 }).map((labels) => labels.join('.'));
    fc.assert(
      fc.property(fc.array(label, { maxLength: 3 }), zone, zone, (prefix, own, other) => {
        const settings = (domainName: string) => ({ ...DOMAIN, domainName, hostedZoneName: own });
        const inside = [...prefix, own].join('.');
        assert.deepEqual(customDomainProblems(settings(inside), REGIONS, NORTH), []);
        assert.deepEqual(customDomainProblems(settings(inside.toUpperCase()), REGIONS, NORTH), []);
        const outside = [...prefix, other].join('.');
        if (outside !== own && !outside.endsWith(`.${own}`)) {
          assert.match(
            customDomainProblems(settings(outside), REGIONS, NORTH).join('\n'),
            /is not in the zone/,
          );
        }
      }),
    );
    const nearlyNames = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.stringMatching(/^[a-zA-Z0-9.-]{0,14}example\.com$/),
      fc.stringMatching(/^([a-z0-9-]{1,5}\.){1,2}example\.com$/),
    );
    fc.assert(
      fc.property(nearlyNames, (text) => {
        const problems = customDomainProblems({ ...DOMAIN, domainName: text }, REGIONS, NORTH);
        const valid = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*example\.com$/i.test(text);
        // A name under example.com is taken; anything else is refused with one line.
        assert.equal(problems.length, valid ? 0 : 1, `${text}: ${problems.join('; ')}`);
      }),
    );
  });
});
