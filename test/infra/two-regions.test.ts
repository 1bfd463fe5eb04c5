import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import fc from 'fast-check';
import { createDeployment } from '../../infra/deployment';
import {
  deploymentRegions,
  ENVIRONMENTS,
  type EnvironmentSettings,
  SettingsError,
} from '../../infra/environments';
import { regionsProblems } from '../../packages/construct/src/service-regions';
import { TokenVendingService } from '../../packages/construct/src/token-vending-service';
import { evaluateIdentity, resolveIntrinsics } from './policy-model';
import { ACCOUNT, PROVIDERS, synthService } from './support';

const production = ENVIRONMENTS.production as EnvironmentSettings;
const sandbox = ENVIRONMENTS.sandbox as EnvironmentSettings;
const [PRIMARY, SECONDARY] = ['eu-north-1', 'eu-west-1'] as const;

/**
 * The context `cdk synth` runs with (cdk.json), so the suite synthesizes what a deploy deploys: its
 * `defaultCrossStackReferences: weak` is what makes the replica key's reference to the primary key a
 * CloudFormation `Fn::GetStackOutput` rather than CDK's custom-resource exporter.
 */
function cliContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8'));
  return { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] };
}

function synthProduction(account: string | undefined = ACCOUNT) {
  const app = new App({ context: cliContext() });
  const stacks = createDeployment(app, production, { ...(account ? { account } : {}) });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const [primary, secondary] = stacks.map((stack) => ({ stack, template: Template.fromStack(stack) }));
  assert.ok(primary && secondary && stacks.length === 2);
  return { app, primary, secondary };
}

interface Statement {
  readonly Sid?: string;
  readonly Action: unknown;
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

const resourcesOf = (template: Template, type: string) => Object.values(template.findResources(type));
/** The resources of a type whose logical id contains `name` (production also has signing keys). */
const resourcesNamed = (template: Template, type: string, name: string) =>
  Object.entries(template.findResources(type))
    .filter(([id]) => id.includes(name))
    .map(([, resource]) => resource);
const json = (value: unknown) => JSON.stringify(value);

/** The function's environment variables in a template (one vend function per stack). */
function functionEnvironment(template: Template): Record<string, unknown> {
  const functions = resourcesOf(template, 'AWS::Lambda::Function').filter(
    (fn) => fn.Properties.Environment?.Variables?.TVM_TABLE !== undefined,
  );
  assert.equal(functions.length, 1);
  return functions[0]?.Properties.Environment.Variables;
}

describe('A two-region production, synthesized offline', () => {
  const { primary, secondary } = synthProduction();

  it('is one stack per region: the primary keeps its id, the other is named for its region and deploys after', () => {
    assert.equal(primary.stack.stackName, 'TokenVending-production');
    assert.equal(primary.stack.region, PRIMARY);
    assert.equal(secondary.stack.stackName, `TokenVending-production-${SECONDARY}`);
    assert.equal(secondary.stack.region, SECONDARY);
    assert.deepEqual(secondary.stack.dependencies, [primary.stack]);
  });

  it('is cdk-nag clean in every regional stack (synth ran the checks on both)', () => {
    // synthProduction throws on any unacknowledged finding; the control is in cdk-nag.test.ts.
    for (const { template } of [primary, secondary]) {
      assert.ok(resourcesOf(template, 'AWS::Lambda::Function').length > 0);
    }
  });

  it('makes the token table a global table in the primary, with a retained, PITR replica per region', () => {
    const tables = primary.template.findResources('AWS::DynamoDB::GlobalTable');
    assert.deepEqual(Object.keys(tables), ['TokenVendingGlobalTokenTableF04C0ED0']);
    const [table] = Object.values(tables);
    assert.equal(table?.DeletionPolicy, 'Retain');
    assert.equal(table?.Properties.TableName, 'token-vending-production');
    assert.deepEqual(table?.Properties.TimeToLiveSpecification, {
      AttributeName: 'expiresAt',
      Enabled: true,
    });
    assert.deepEqual(table?.Properties.KeySchema, [{ AttributeName: 'pk', KeyType: 'HASH' }]);
    const replicas = table?.Properties.Replicas as Array<Record<string, unknown>>;
    assert.deepEqual(replicas.map((replica) => replica.Region).sort(), [PRIMARY, SECONDARY]);
    for (const replica of replicas) {
      assert.deepEqual(replica.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
      assert.equal(replica.DeletionProtectionEnabled, true);
    }
    primary.template.resourceCountIs('AWS::DynamoDB::Table', 0);
    secondary.template.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
    secondary.template.resourceCountIs('AWS::DynamoDB::Table', 0);
  });

  it('seals under a multi-Region key whose replica, in the other region, takes the same policy', () => {
    const [key] = resourcesNamed(primary.template, 'AWS::KMS::Key', 'SealingKey');
    assert.equal(key?.Properties.MultiRegion, true);
    assert.equal(key?.Properties.EnableKeyRotation, true);
    const [replica] = resourcesNamed(secondary.template, 'AWS::KMS::ReplicaKey', 'SealingKey');
    assert.ok(replica);
    assert.equal(replica.DeletionPolicy, 'Retain');
    // CloudFormation reads the primary key's ARN from the primary stack's outputs, in its region.
    const reference = replica.Properties.PrimaryKeyArn['Fn::GetStackOutput'];
    assert.equal(reference.StackName, 'TokenVending-production');
    assert.equal(reference.Region, PRIMARY);
    assert.match(reference.OutputName, /MultiRegionSealingKey/);
    assert.ok(primary.template.toJSON().Outputs[reference.OutputName], 'the primary publishes it');
    const sids = (policy: { Statement: Array<{ Sid: string }> }) => policy.Statement.map((s) => s.Sid);
    assert.deepEqual(
      sids(replica.Properties.KeyPolicy),
      sids(key?.Properties.KeyPolicy).filter((sid) => !sid.startsWith('Replicate')),
    );
    // Each key lets its own region's function seal and open, nobody else.
    const sealer = (policy: { Statement: Array<{ Sid: string; Principal: unknown }> }) =>
      policy.Statement.find((statement) => statement.Sid === 'SealAndOpenTokens')?.Principal;
    assert.deepEqual(sealer(replica.Properties.KeyPolicy), {
      AWS: secondary.stack.resolve(functionRole(secondary.stack).roleArn),
    });
    assert.deepEqual(sealer(key?.Properties.KeyPolicy), {
      AWS: { 'Fn::GetAtt': ['TokenVendingFunctionRoleA70D04F9', 'Arn'] },
    });
  });

  it("lets only the other region's deploying role replicate the primary key, and only into that region", () => {
    const [key] = resourcesNamed(primary.template, 'AWS::KMS::Key', 'SealingKey');
    const replicate = ((key?.Properties.KeyPolicy.Statement ?? []) as Statement[]).filter((statement) =>
      json(statement.Action).includes('kms:ReplicateKey'),
    );
    assert.equal(replicate.length, 1);
    assert.deepEqual(replicate[0]?.Condition?.StringEquals, { 'kms:ReplicaRegion': SECONDARY });
    assert.match(
      json(replicate[0]?.Condition?.ArnEquals),
      /cfn-exec-role-\$\{AWS::AccountId\}-eu-west-1|cfn-exec-role-111122223333-eu-west-1/,
    );
  });

  it("replicates every secret (the providers' and the counter key) into the other region, which creates none", () => {
    const secrets = resourcesOf(primary.template, 'AWS::SecretsManager::Secret');
    // Six providers and the counter key.
    assert.equal(secrets.length, 7);
    for (const secret of secrets) {
      assert.deepEqual(secret.Properties.ReplicaRegions, [{ Region: SECONDARY }], secret.Properties.Name);
    }
    assert.ok(
      secrets.some((secret) => secret.Properties.Name === 'token-vending/production/caller-counter-key'),
    );
    secondary.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    // A replica carries the primary's resource policy; the other region's stack cannot and does not set one.
    secondary.template.resourceCountIs('AWS::SecretsManager::ResourcePolicy', 0);
  });

  it("makes every region's function role in the primary's stack, which the other region imports", () => {
    const roles = primary.template.findResources('AWS::IAM::Role', {
      Properties: {
        AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'lambda.amazonaws.com' } }] },
      },
    });
    const named = (region: string) =>
      Object.keys(roles).find(
        (id) => roles[id]?.Properties.RoleName === `token-vending-production-${region}`,
      );
    assert.equal(named(PRIMARY), 'TokenVendingFunctionRoleA70D04F9', 'the primary keeps its logical ID');
    const westRole = named(SECONDARY);
    assert.ok(westRole, "the primary makes the other region's role");
    // The other region makes no role of its own: it takes the primary's through its outputs (a weak
    // reference, no custom resource) and attaches its grants to it as a policy of its own stack.
    const secondaryRoles = resourcesOf(secondary.template, 'AWS::IAM::Role');
    assert.ok(secondaryRoles.length > 0);
    for (const role of secondaryRoles) assert.equal(role.Properties.RoleName, undefined);
    const imported = secondary.stack.resolve(functionRole(secondary.stack).roleArn);
    assert.deepEqual(Object.keys(imported), ['Fn::GetStackOutput']);
    assert.equal(imported['Fn::GetStackOutput'].StackName, 'TokenVending-production');
    assert.deepEqual(primary.template.toJSON().Outputs[imported['Fn::GetStackOutput'].OutputName].Value, {
      'Fn::GetAtt': [westRole, 'Arn'],
    });
    const fn = resourcesOf(secondary.template, 'AWS::Lambda::Function').find(
      (resource) => resource.Properties.Environment?.Variables?.TVM_TABLE !== undefined,
    );
    assert.deepEqual(fn?.Properties.Role, imported);
    assert.ok(
      !json(secondary.template.toJSON()).includes('ExportsReader'),
      'no strong cross-region reference',
    );
  });

  describe("every region's function role, in its fixed-egress VPC", () => {
    const roles = Object.values(
      primary.template.findResources('AWS::IAM::Role', {
        Properties: {
          AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'lambda.amazonaws.com' } }] },
        },
      }),
    ).filter((role) => String(role.Properties.RoleName).startsWith('token-vending-production-'));
    const regionOf = (role: (typeof roles)[number]) =>
      String(role.Properties.RoleName).slice('token-vending-production-'.length);
    const statementsOf = (role: (typeof roles)[number]) =>
      resolveIntrinsics(
        (role.Properties.Policies ?? []).flatMap(
          (policy: { PolicyDocument: { Statement: unknown[] } }) => policy.PolicyDocument.Statement,
        ),
        primary.template,
      ) as Parameters<typeof evaluateIdentity>[0];
    const eni = (region: string) => `arn:aws:ec2:${region}:${ACCOUNT}:network-interface/eni-0abc`;

    it('lets Lambda manage its network interfaces, in its own region and account only', () => {
      // Lambda adds these permissions only to a role it makes itself: without them creating the function
      // fails (production has fixed egress in both regions).
      assert.deepEqual(roles.map(regionOf).sort(), [PRIMARY, SECONDARY]);
      for (const role of roles) {
        const statements = statementsOf(role);
        const region = regionOf(role);
        const asLambda = (action: string, resource: string) =>
          evaluateIdentity(statements, { action, resource });
        for (const action of [
          'ec2:CreateNetworkInterface',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ]) {
          assert.equal(asLambda(action, eni(region)), 'allowed', `${region} ${action}`);
          const other = region === PRIMARY ? SECONDARY : PRIMARY;
          assert.equal(asLambda(action, eni(other)), 'denied', `${region} ${action} in ${other}`);
          assert.equal(
            asLambda(action, `arn:aws:ec2:${region}:444455556666:network-interface/eni-0abc`),
            'denied',
            `${region} ${action} in another account`,
          );
        }
        // Documented to work only on "*".
        for (const action of ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets']) {
          assert.equal(asLambda(action, '*'), 'allowed', action);
        }
        for (const action of [
          'ec2:CreateVpc',
          'ec2:ModifyNetworkInterfaceAttribute',
          'ec2:AttachNetworkInterface',
        ]) {
          assert.equal(asLambda(action, eni(region)), 'denied', action);
        }
      }
    });

    it("denies them to the function's own code: only Lambda's own calls (no source function ARN) use them", () => {
      for (const role of roles) {
        const region = regionOf(role);
        const fromCode = {
          context: { 'lambda:SourceFunctionArn': `arn:aws:lambda:${region}:${ACCOUNT}:function:vend-0abc` },
        };
        for (const [action, resource] of [
          ['ec2:CreateNetworkInterface', eni(region)],
          ['ec2:DeleteNetworkInterface', eni(region)],
          ['ec2:DescribeNetworkInterfaces', '*'],
        ] as const) {
          assert.equal(
            evaluateIdentity(statementsOf(role), { action, resource, ...fromCode }),
            'denied',
            action,
          );
        }
      }
    });

    it("holds no managed policy, and writes no log group but its own function's", () => {
      for (const role of roles) assert.equal(role.Properties.ManagedPolicyArns, undefined, regionOf(role));
      for (const { template } of [primary, secondary]) {
        const logGroups = Object.keys(template.findResources('AWS::Logs::LogGroup')).filter((id) =>
          id.includes('FunctionLogs'),
        );
        assert.equal(logGroups.length, 1);
        const statements = [
          // The function roles' policies (the flow logs' role writes its own log group).
          ...resourcesOf(template, 'AWS::IAM::Policy')
            .filter((policy) => json(policy.Properties.Roles).includes('FunctionRole'))
            .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]),
          ...roles.flatMap((role) =>
            (role.Properties.Policies ?? []).flatMap(
              (policy: { PolicyDocument: { Statement: Statement[] } }) => policy.PolicyDocument.Statement,
            ),
          ),
        ];
        const logs = statements.filter((statement) => json(statement.Action).includes('logs:'));
        assert.ok(logs.length > 0);
        for (const statement of logs) {
          for (const resource of ([] as unknown[]).concat(statement.Resource)) {
            assert.match(json(resource), new RegExp(`"${logGroups[0]}"`), json(statement));
          }
        }
      }
    });

    it('runs the function in the VPC', () => {
      for (const { template } of [primary, secondary]) {
        const fn = resourcesOf(template, 'AWS::Lambda::Function').find(
          (resource) => resource.Properties.Environment?.Variables?.TVM_TABLE !== undefined,
        );
        assert.ok(fn?.Properties.VpcConfig, 'the function runs in the VPC');
      }
    });
  });

  it("admits only roles the primary's own stack makes in every secret's policy, one per region", () => {
    const roleIds = Object.keys(primary.template.findResources('AWS::IAM::Role'));
    const policies = resourcesOf(primary.template, 'AWS::SecretsManager::ResourcePolicy');
    assert.equal(policies.length, 7);
    for (const policy of policies) {
      const reads = policy.Properties.ResourcePolicy.Statement.find(
        (statement: { Sid: string }) => statement.Sid === 'OnlyTheFunctionReads',
      );
      // A name of a role not made yet (or whose stack is gone) would admit whoever creates it: every
      // reader is a role resource of this template, which exists as long as the policy does.
      const readers = reads.Condition.StringNotEquals['aws:PrincipalArn'] as unknown[];
      assert.equal(readers.length, 2, json(readers));
      for (const reader of readers) {
        const [id, attribute] = (reader as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'] ?? [];
        assert.ok(id && roleIds.includes(id) && attribute === 'Arn', `a role of this stack: ${json(reader)}`);
      }
      const manages = policy.Properties.ResourcePolicy.Statement.find(
        (statement: { Sid: string }) => statement.Sid === 'OnlyTheDeployerManages',
      );
      assert.ok(manages.Action.includes('secretsmanager:ReplicateSecretToRegions'));
      assert.ok(manages.Action.includes('secretsmanager:StopReplicationToReplica'));
    }
  });

  it("points each region's function at its own replicas, and tells it every region", () => {
    const primaryEnvironment = functionEnvironment(primary.template);
    const secondaryEnvironment = functionEnvironment(secondary.template);
    for (const environment of [primaryEnvironment, secondaryEnvironment]) {
      assert.equal(environment.TVM_REGIONS, `${PRIMARY},${SECONDARY}`);
    }
    assert.deepEqual(primaryEnvironment.TVM_TABLE, { Ref: 'TokenVendingGlobalTokenTableF04C0ED0' });
    assert.equal(secondaryEnvironment.TVM_TABLE, 'token-vending-production');
    assert.deepEqual(primaryEnvironment.TVM_SEALING_KEY_ID, {
      'Fn::GetAtt': ['TokenVendingMultiRegionSealingKey80EC787E', 'Arn'],
    });
    assert.deepEqual(secondaryEnvironment.TVM_SEALING_KEY_ID, {
      'Fn::GetAtt': ['TokenVendingSealingKeyReplica0A22155F', 'Arn'],
    });
    assert.match(
      json(secondaryEnvironment.TVM_COUNTER_KEY_SECRET_ARN),
      /arn:aws:secretsmanager:eu-west-1:.*:secret:token-vending\/production\/caller-counter-key"/,
    );
  });

  it("grants each region's function its own region's table and secrets only, no * where a name is known", () => {
    for (const { stack, template } of [primary, secondary]) {
      const roleName = json([stack.resolve(functionRole(stack).roleName)]);
      const statements = resourcesOf(template, 'AWS::IAM::Policy')
        .filter((policy) => json(policy.Properties.Roles) === roleName)
        .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
      const table = statements.filter((statement) => json(statement.Action).includes('dynamodb:'));
      assert.equal(table.length, 1);
      const tableArn = json(stack.resolve(table[0]?.Resource));
      if (stack === secondary.stack) {
        assert.equal(
          tableArn,
          json(`arn:aws:dynamodb:${SECONDARY}:${ACCOUNT}:table/token-vending-production`),
        );
      } else {
        assert.equal(tableArn, json({ 'Fn::GetAtt': ['TokenVendingGlobalTokenTableF04C0ED0', 'Arn'] }));
      }
      const secrets = statements.filter((statement) => json(statement.Action).includes('GetSecretValue'));
      const secretArns = secrets.flatMap((statement) => ([] as unknown[]).concat(statement.Resource));
      assert.equal(secretArns.length, 7);
      if (stack === secondary.stack) {
        for (const arn of secretArns) assert.match(json(arn), /arn:aws:secretsmanager:eu-west-1:/);
      }
      for (const statement of statements) {
        if (json(statement.Resource) === '"*"') {
          assert.ok(json(statement.Action).includes('xray:'), `only X-Ray takes *: ${json(statement)}`);
        }
      }
    }
  });

  it("publishes each region's own API, egress addresses and region in its outputs and SSM parameters", () => {
    for (const { stack, template } of [primary, secondary]) {
      const outputs = template.toJSON().Outputs;
      assert.equal(outputs.Region.Value, stack.region);
      assert.equal(outputs.PrimaryRegion.Value, PRIMARY);
      assert.ok(outputs.EgressIps, 'fixed egress in every region');
      assert.equal(resourcesOf(template, 'AWS::EC2::EIP').length, 2);
      const parameters = resourcesOf(template, 'AWS::SSM::Parameter')
        .map((p) => p.Properties.Name)
        .sort();
      assert.deepEqual(parameters, [
        '/token-vending/production/api-id',
        '/token-vending/production/api-url',
        '/token-vending/production/stage',
      ]);
    }
  });

  it('synthesizes without credentials, the account left to the deploy', () => {
    const { primary: tokenPrimary, secondary: tokenSecondary } = synthProduction(undefined);
    assert.ok(tokenPrimary.template && tokenSecondary.template);
  });
});

/** The vend function's role in a stack: its own, or (in another region) the primary's, imported. */
function functionRole(stack: Stack): iam.IRole {
  const role = (stack.node.findChild('TokenVending') as TokenVendingService).function.role;
  assert.ok(role);
  return role;
}

describe('A single-region environment', () => {
  const stateful = {
    TokenVendingTokenTableB8396F4C: 'AWS::DynamoDB::Table',
    TokenVendingTokenSealingKey4C7B4EE0: 'AWS::KMS::Key',
    TokenVendingCallerCounterKey4FA5B34D: 'AWS::SecretsManager::Secret',
  };

  function synthSandbox(settings: EnvironmentSettings): Template {
    const app = new App({ context: cliContext() });
    const [stack] = createDeployment(app, settings, { account: ACCOUNT, region: PRIMARY });
    assert.ok(stack);
    return Template.fromStack(stack);
  }

  it('keeps its stack, its logical IDs and its function environment: no global table, no replicas', () => {
    const template = synthSandbox(sandbox);
    const resources = template.toJSON().Resources;
    for (const [id, type] of Object.entries(stateful)) assert.equal(resources[id]?.Type, type, id);
    assert.equal(resources.TokenVendingCallerCounterKey4FA5B34D.Properties.Name, undefined);
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
    template.resourceCountIs('AWS::KMS::ReplicaKey', 0);
    assert.ok(!json(template.toJSON()).includes('ReplicaRegions'));
    assert.ok(!json(template.toJSON()).includes('MultiRegion'));
    const environment = functionEnvironment(template);
    assert.deepEqual(Object.keys(environment).sort(), [
      'NODE_OPTIONS',
      'POWERTOOLS_SERVICE_NAME',
      'TVM_ANY_CALLER_ACCOUNTS',
      'TVM_COUNTER_KEY_SECRET_ARN',
      'TVM_RENEWAL_QUEUE_URL',
      'TVM_SEALING_KEY_ID',
      'TVM_TABLE',
    ]);
    for (const role of resourcesOf(template, 'AWS::IAM::Role'))
      assert.equal(role.Properties.RoleName, undefined);
    assert.equal(template.toJSON().Outputs.Region, undefined);
  });

  it('is the same template with one region named as with none', () => {
    const none = synthSandbox(sandbox).toJSON();
    const one = synthSandbox({ ...sandbox, regions: [PRIMARY] }).toJSON();
    assert.deepEqual(one, none);
  });
});

describe('Settings: regions', () => {
  it.each([
    [[], /name at least one region/],
    [['eu-north-1', 'eu-north-1'], /eu-north-1 is named twice/],
    [['eu-nort-1'], /"eu-nort-1" is not a region name/],
    [['EU-WEST-1'], /"EU-WEST-1" is not a region name/],
    [['eu-west'], /"eu-west" is not a region name/],
  ])('refuses %j with a SettingsError naming the problem', (regions, message) => {
    const settings = { ...production, regions };
    assert.throws(
      () => deploymentRegions(settings),
      (error: unknown) => error instanceof SettingsError && message.test(error.message),
    );
    // Nothing is made: the app never gets as far as a stack.
    const app = new App({ context: cliContext() });
    assert.throws(() => createDeployment(app, settings), SettingsError);
    assert.equal(app.node.children.length, 0);
  });

  it('accepts real region names', () => {
    for (const region of [
      'eu-north-1',
      'us-gov-west-1',
      'ap-southeast-5',
      'cn-northwest-1',
      'us-isob-east-1',
    ]) {
      assert.deepEqual(regionsProblems([region]), [], region);
    }
  });

  it('names each bad entry of any list, and accepts a list only when every entry is a distinct region', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.constantFrom(PRIMARY, SECONDARY)), { maxLength: 4 }),
        (regions) => {
          const problems = regionsProblems(regions);
          if (problems.length === 0) {
            assert.ok(regions.length > 0);
            assert.equal(new Set(regions).size, regions.length);
          }
          for (const problem of problems) assert.match(problem, /^regions: /);
          assert.ok(problems.length <= Math.max(1, regions.length));
        },
      ),
    );
  });
});

describe('The construct across regions', () => {
  const bad = (build: (app: App) => void, message: RegExp) => {
    const app = new App({ context: cliContext() });
    assert.throws(
      () => build(app),
      (error: unknown) =>
        (error as Error).name === 'TokenVendingSettingsError' && message.test((error as Error).message),
    );
  };
  const regions = [PRIMARY, SECONDARY];
  const stackIn = (app: App, region: string | undefined, id = `In-${region ?? 'any'}`) =>
    new Stack(app, id, {
      ...(region ? { env: { account: ACCOUNT, region } } : {}),
      crossRegionReferences: true,
    });
  const service = (stack: Stack, props: Partial<ConstructorParameters<typeof TokenVendingService>[2]> = {}) =>
    new TokenVendingService(stack, 'TokenVending', {
      environment: 'test',
      providers: PROVIDERS,
      regions,
      ...props,
    });

  it('needs an explicit region in the list', () => {
    bad((app) => service(stackIn(app, undefined)), /explicit region/);
    bad((app) => service(stackIn(app, 'us-east-1')), /us-east-1 is not one of eu-north-1, eu-west-1/);
  });

  it('needs the primary in the other regions, and only there', () => {
    bad((app) => service(stackIn(app, SECONDARY)), /needs the primary region's \(eu-north-1\) construct/);
    bad((app) => {
      const first = service(stackIn(app, PRIMARY));
      service(stackIn(app, PRIMARY, 'Again'), { primary: first });
    }, /takes no primary/);
    bad((app) => {
      const first = service(stackIn(app, PRIMARY));
      service(stackIn(app, SECONDARY), { environment: 'other', primary: first });
    }, /its environment is test, not other/);
  });

  it('refuses what one region cannot serve to another: a single-Region signing key, a customer-managed table key', () => {
    const named = [
      {
        ...PROVIDERS[1],
        signingKey: {
          kms: `arn:aws:kms:${PRIMARY}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
          algorithm: 'RS256',
        },
      },
    ];
    bad((app) => service(stackIn(app, PRIMARY), { providers: named as never }), /is a single-Region key/);
    bad(
      (app) => service(stackIn(app, PRIMARY), { tableEncryption: 'customer-managed' }),
      /tableEncryption: a global table/,
    );
  });

  it("refuses at synth a secret ARN of a region other than the primary's", () => {
    const foreign = `arn:aws:secretsmanager:${SECONDARY}:${ACCOUNT}:secret:beta-AbCdEf`;
    const providers = [{ ...PROVIDERS[1], secretId: foreign }];
    const message = new RegExp(
      `providers\\["beta"\\]\\.secretId: ${foreign} is a secret in ${SECONDARY}; with several regions name the primary region's \\(${PRIMARY}\\) secret`,
    );
    bad(
      (app) => service(stackIn(app, PRIMARY), { providers: providers as never, createSecrets: false }),
      message,
    );
    // A name, or the primary's ARN, is what every region can find its own replica of.
    const app = new App({ context: cliContext() });
    const named = [{ ...PROVIDERS[1], secretId: 'beta-credentials' }];
    assert.ok(service(stackIn(app, PRIMARY), { providers: named as never, createSecrets: false }));
  });

  it("gives another region's function the replica of a named multi-Region signing key and secret ARN", () => {
    const key = `arn:aws:kms:${PRIMARY}:${ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab`;
    const secretArn = `arn:aws:secretsmanager:${PRIMARY}:${ACCOUNT}:secret:beta-AbCdEf`;
    const providers = [
      { ...PROVIDERS[1], secretId: secretArn, signingKey: { kms: key, algorithm: 'RS256' } },
    ];
    const app = new App({ context: cliContext() });
    const first = service(stackIn(app, PRIMARY), { providers: providers as never, createSecrets: false });
    const other = service(stackIn(app, SECONDARY), {
      providers: providers as never,
      createSecrets: false,
      primary: first,
    });
    const template = json(Template.fromStack(Stack.of(other)).toJSON());
    assert.ok(template.includes(key.replace(PRIMARY, SECONDARY)), 'signs with its own replica');
    assert.ok(template.includes(secretArn.replace(PRIMARY, SECONDARY)), 'reads its own replica');
    assert.ok(!template.includes(`kms:${PRIMARY}`), "never the primary region's key");
  });

  it('leaves a single-region construct as it was', () => {
    const { template } = synthService();
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    assert.ok(!json(functionEnvironment(template)).includes('TVM_REGIONS'));
    const withPrimary = () => {
      const app = new App({ context: cliContext() });
      const first = service(stackIn(app, PRIMARY));
      new TokenVendingService(stackIn(app, SECONDARY), 'TokenVending', {
        environment: 'test',
        providers: PROVIDERS,
        primary: first,
      });
    };
    assert.throws(withPrimary, /only a multi-Region deployment \(regions\) has a primary/);
  });
});
