import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { contextOverrides } from '../../infra/context-overrides';
import { ENVIRONMENTS, type EnvironmentSettings, readProvidersFile } from '../../infra/environments';
import { TokenVendingStack } from '../../infra/token-vending-stack';
import { DEFAULT_DAILY_TOKENS } from '../../packages/construct/src/provider-entry';
import { grantVend } from '../../packages/grant-vend/src';

const production = ENVIRONMENTS.production as EnvironmentSettings;
const sandbox = ENVIRONMENTS.sandbox as EnvironmentSettings;
const ROOT = join(__dirname, '..', '..');

/** A synth of the real stack with these settings and no `-c` flag, cdk-nag on. */
function synthEnvironment(settings: EnvironmentSettings): { template: Template; stack: TokenVendingStack } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new TokenVendingStack(app, `TokenVending-${settings.name}`, {
    settings,
    env: { account: '111122223333', region: 'eu-north-1' },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return { template: Template.fromStack(stack), stack };
}

describe('Settings per environment', () => {
  it('deploys the configured accounts, callers file and throttling without any flag', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvm-settings-'));
    const providersFile = join(dir, 'providers.json');
    const callers = ['arn:aws:iam::444455556666:role/orders'];
    writeFileSync(
      providersFile,
      JSON.stringify({ providers: [{ ...readProvidersFile(production)[0], callers }] }),
    );
    const { template } = synthEnvironment({
      ...production,
      providersFile,
      allowedAccounts: ['444455556666'],
      throttling: { rateLimit: 40, burstLimit: 80 },
      memorySize: 1024,
    });
    const [api] = Object.values(template.findResources('AWS::ApiGateway::RestApi'));
    const policy = JSON.stringify(api?.Properties.Policy);
    assert.match(policy, /444455556666:role\/orders/);
    assert.ok(!policy.includes('111122223333'), 'not reset to the deploying account');
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 1024 });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [{ ThrottlingRateLimit: 40, ThrottlingBurstLimit: 80 }].map((setting) => ({
        ...setting,
        DataTraceEnabled: false,
        HttpMethod: '*',
        LoggingLevel: 'ERROR',
        MetricsEnabled: true,
        ResourcePath: '/*',
      })),
    });
  });

  it('ships production with fixed egress whose addresses are retained, and the account-level API role', () => {
    const { template } = synthEnvironment(production);
    const ips = Object.values(template.findResources('AWS::EC2::EIP'));
    assert.equal(ips.length, 2);
    for (const ip of ips) assert.equal(ip.DeletionPolicy, 'Retain');
    template.resourceCountIs('AWS::ApiGateway::Account', 1);
    const released = synthEnvironment({ ...production, releaseEgressIps: true }).template;
    for (const ip of Object.values(released.findResources('AWS::EC2::EIP'))) {
      assert.equal(ip.DeletionPolicy, 'Delete');
    }
  });

  it('leaves the account-level API role to production in the sandbox, so the two never fight over it', () => {
    const { template } = synthEnvironment(sandbox);
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    template.resourceCountIs('AWS::IAM::Role', 1);
  });

  it('names the API and every alarm by environment, and per provider by its id', () => {
    const { template } = synthEnvironment(production);
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { Name: 'token-vending-production' });
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) =>
      String(alarm.Properties.AlarmName),
    );
    for (const provider of readProvidersFile(production)) {
      assert.ok(
        names.includes(`token-vending-production-eu-north-1-UpstreamFailures-${provider.id}`),
        provider.id,
      );
      assert.ok(names.includes(`token-vending-production-eu-north-1-TokenQuota-${provider.id}`), provider.id);
    }
    assert.ok(names.includes('token-vending-production-eu-north-1-FunctionErrors'));
  });

  it('alarms at the quota pace where an entry has one, at the default pace where not', () => {
    const { template } = synthEnvironment(production);
    const threshold = (provider: string) =>
      Object.values(template.findResources('AWS::CloudWatch::Alarm')).find(
        (alarm) =>
          alarm.Properties.AlarmName === `token-vending-production-eu-north-1-TokenQuota-${provider}`,
      )?.Properties.Threshold;
    // Production runs in two regions: the provider's quota is shared, so each region alarms at half the pace.
    const regions = production.regions?.length ?? 1;
    assert.equal(regions, 2);
    assert.equal(threshold('bcc-production'), Math.floor(((1000 / 31) * 0.8) / regions));
    assert.equal(threshold('gopacs-production'), Math.floor(DEFAULT_DAILY_TOKENS / regions));
  });

  it('prints a refused flag once, in one line with no stack trace, and exits 1 (the real app entry)', () => {
    const result = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'infra', 'app.ts')], {
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_CONTEXT_JSON: JSON.stringify({ env: 'production', egress: 'fixed' }),
        CDK_OUTDIR: mkdtempSync(join(tmpdir(), 'tvm-app-')),
      },
    });
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      'production deploys from its settings alone: -c egress refused; change infra/environments.ts instead\n',
    );
  });

  it('refuses -c overrides for production in one line, and takes them for the sandbox', () => {
    const context = (values: Record<string, string>) => (name: string) => values[name];
    assert.throws(
      () => contextOverrides(production, context({ egress: 'fixed', alarmEmail: 'ops@example.com' })),
      {
        message:
          'production deploys from its settings alone: -c alarmEmail, -c egress refused; change infra/environments.ts instead',
      },
    );
    assert.deepEqual(contextOverrides(sandbox, context({ alarmEmail: 'ops@example.com', egress: 'fixed' })), {
      alarmEmail: 'ops@example.com',
      egress: { type: 'fixed', zones: 2 },
    });
  });

  it('publishes where the API is as SSM parameters for callers', () => {
    const { template } = synthEnvironment(production);
    const names = Object.values(template.findResources('AWS::SSM::Parameter')).map((parameter) =>
      String(parameter.Properties.Name),
    );
    assert.deepEqual(names.sort(), [
      '/token-vending/production/api-id',
      '/token-vending/production/api-url',
      '/token-vending/production/stage',
    ]);
  });
});

describe('Fixed egress', () => {
  it('puts the function behind NAT gateways with Elastic IPs, with endpoints for AWS services, cdk-nag clean', () => {
    const { template } = synthEnvironment({ ...production, egress: 'fixed', egressZones: 2 });
    template.resourceCountIs('AWS::EC2::NatGateway', 2);
    template.resourceCountIs('AWS::EC2::EIP', 2);
    const nats = Object.values(template.findResources('AWS::EC2::NatGateway'));
    for (const nat of nats) assert.match(JSON.stringify(nat.Properties.AllocationId), /EgressIp/);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' });
    const interfaces = Object.values(template.findResources('AWS::EC2::VPCEndpoint')).filter(
      (endpoint) => endpoint.Properties.VpcEndpointType === 'Interface',
    );
    const services = JSON.stringify(interfaces.map((endpoint) => endpoint.Properties.ServiceName));
    assert.match(services, /secretsmanager/);
    assert.match(services, /kms/);
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function'));
    assert.ok(fn?.Properties.VpcConfig, 'the function is in the VPC');
    assert.match(JSON.stringify(fn?.Properties.VpcConfig.SubnetIds), /functionSubnet/);
    template.hasOutput('EgressIps', {});
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  it('is off unless the settings ask for it: no VPC, no NAT, no addresses', () => {
    const { template } = synthEnvironment(sandbox);
    for (const type of ['AWS::EC2::VPC', 'AWS::EC2::NatGateway', 'AWS::EC2::EIP', 'AWS::EC2::VPCEndpoint']) {
      template.resourceCountIs(type, 0);
    }
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function'));
    assert.equal(fn?.Properties.VpcConfig, undefined);
    assert.ok(!('EgressIps' in (template.toJSON().Outputs ?? {})));
  });
});

describe('Function: grantVend', () => {
  const callerStack = (account: string) => {
    const app = new App();
    const stack = new Stack(app, 'Caller', { env: { account, region: 'eu-north-1' } });
    const role = new iam.Role(stack, 'OrdersRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    });
    return { stack, role };
  };
  const resources = (stack: Stack) =>
    JSON.stringify(
      Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).map(
        (policy) => policy.Properties.PolicyDocument.Statement,
      ),
    );

  it('finds the API of an environment in its own account through the SSM parameters', () => {
    const { stack, role } = callerStack('111122223333');
    grantVend(role, { environment: 'production' }, 'bcc-production');
    const template = Template.fromStack(stack).toJSON();
    const parameters = JSON.stringify(template.Parameters);
    assert.match(parameters, /\/token-vending\/production\/api-id/);
    assert.match(parameters, /\/token-vending\/production\/stage/);
    assert.match(resources(stack), /POST\/v1\/tokens\/bcc-production/);
  });

  it("grants a caller in another account the service account's API, named explicitly", () => {
    const { stack, role } = callerStack('444455556666');
    grantVend(
      role,
      { restApiId: 'a1b2c3d4e5', stageName: 'live', account: '111122223333', region: 'eu-north-1' },
      'bcc-production',
    );
    const granted = resources(stack);
    for (const method of [
      'POST/v1/tokens/bcc-production',
      'DELETE/v1/tokens/bcc-production',
      'GET/v1/providers',
    ]) {
      assert.ok(granted.includes(`execute-api:eu-north-1:111122223333:a1b2c3d4e5/live/${method}`), method);
    }
  });
});
