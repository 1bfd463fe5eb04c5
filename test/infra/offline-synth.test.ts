import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { createDeployment } from '../../infra/deployment';
import { ENVIRONMENTS, type EnvironmentSettings } from '../../infra/environments';
import { ACCOUNT, synthService } from './support';

const production = ENVIRONMENTS.production as EnvironmentSettings;

/** The CLI's context (cdk.json), without bundling; AWS credentials play no part in an in-process synth. */
const cliContext = () => ({
  ...JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context,
  'aws:cdk:bundling-stacks': [],
});

describe('Synth needs no credentials and no network', () => {
  it('asks for no context lookup in production (two regions, fixed egress, a created Maskinporten key) with a concrete account', () => {
    // Prepare: what `cdk synth` with a concrete account would have to look up in AWS first.
    const app = new App({ context: cliContext() });
    const stacks = createDeployment(app, production, { account: ACCOUNT });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    // Act
    const assembly = app.synth();
    // Assess
    assert.deepEqual(
      assembly.manifest.missing ?? [],
      [],
      'no context the CLI would look up with credentials',
    );
    assert.equal(stacks.length, 2);
    for (const stack of stacks) {
      const subnets = Object.values(Template.fromStack(stack).findResources('AWS::EC2::Subnet'));
      assert.equal(subnets.length, 4);
      for (const subnet of subnets) {
        // The region's zones, resolved by CloudFormation at deploy.
        assert.deepEqual(subnet.Properties.AvailabilityZone['Fn::Select'][1], { 'Fn::GetAZs': '' });
      }
    }
    const maskinporten = Template.fromStack(stacks[1] as never).findResources('AWS::KMS::ReplicaKey');
    assert.ok(Object.keys(maskinporten).some((id) => id.includes('SigningKeymaskinporten1')));
  });

  it('asks for no lookup with the other documented settings: a private endpoint, a custom domain, the sandbox', () => {
    const { app } = synthService({
      endpoint: { type: 'private', vpcEndpoints: ['vpce-0123456789abcdef0'] },
      customDomain: {
        domainName: 'tvm.example.com',
        hostedZoneId: 'Z0123456789ABCDEFGHIJ',
        hostedZoneName: 'example.com',
      },
      tableEncryption: 'customer-managed',
    });
    assert.deepEqual(app.synth().manifest.missing ?? [], []);
    const sandbox = new App({ context: cliContext() });
    createDeployment(sandbox, ENVIRONMENTS.sandbox as EnvironmentSettings, {
      account: ACCOUNT,
      region: 'eu-north-1',
      service: { egress: { type: 'fixed' } },
    });
    assert.deepEqual(sandbox.synth().manifest.missing ?? [], []);
  });

  it('places fixed egress in as many zones as asked, three included', () => {
    const { app, template } = synthService({ egress: { type: 'fixed', zones: 3 } });
    assert.deepEqual(app.synth().manifest.missing ?? [], []);
    template.resourceCountIs('AWS::EC2::NatGateway', 3);
    const zones = Object.values(template.findResources('AWS::EC2::Subnet')).map(
      (subnet) => subnet.Properties.AvailabilityZone['Fn::Select'][0],
    );
    assert.deepEqual([...new Set(zones)].sort(), [0, 1, 2]);
  });

  it('keeps the VPC flow logs as long as logRetention says', () => {
    const { template } = synthService({ egress: { type: 'fixed' }, logRetention: RetentionDays.ONE_YEAR });
    const flowLogGroups = Object.entries(template.findResources('AWS::Logs::LogGroup')).filter(([id]) =>
      id.includes('EgressVpcEgress'),
    );
    assert.equal(flowLogGroups.length, 1);
    assert.equal(flowLogGroups[0]?.[1].Properties.RetentionInDays, 365);
  });
});
