import assert from 'node:assert/strict';
import { App, DefaultStackSynthesizer, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { TokenVendingService } from '../../packages/construct/src/token-vending-service';
import { evaluate, keyPolicy, REGION, type Request, secretPolicy } from './policy-model';
import { ACCOUNT, PROVIDERS, synthService } from './support';

const BREAK_GLASS = `arn:aws:iam::${ACCOUNT}:role/break-glass`;
const DEPLOYER = `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-${REGION}`;
/** A principal of the account with AdministratorAccess or PowerUserAccess: what the account root delegates to. */
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/Admin`;
const VIA_DYNAMODB = { 'kms:ViaService': `dynamodb.${REGION}.amazonaws.com`, 'kms:CallerAccount': ACCOUNT };
const SEALING_CONTEXT = { 'kms:EncryptionContext:service': 'token-vending' };

function synth(props: Parameters<typeof synthService>[0] = {}) {
  const { template } = synthService(props);
  const roles = Object.keys(template.findResources('AWS::IAM::Role')).filter((id) =>
    id.includes('FunctionRole'),
  );
  assert.equal(roles.length, 1);
  return { template, functionRole: `arn:aws:iam::${ACCOUNT}:role/${roles[0]}` };
}

const ask = (statements: Parameters<typeof evaluate>[0], request: Request) => evaluate(statements, request);

describe('Who can do what (docs/operations.md), asked of the synthesized policies', () => {
  describe('the sealing key', () => {
    const { template, functionRole } = synth({ breakGlassRoleArn: BREAK_GLASS });
    // Read when the tests run, so that a template without the key fails each test rather than the suite.
    let policy: ReturnType<typeof keyPolicy> = [];
    beforeAll(() => {
      policy = keyPolicy(template, 'TokenSealingKey');
    });

    it('lets the function seal and open tokens under the service encryption context, and nothing more', () => {
      for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
        assert.equal(
          ask(policy, { principalArn: functionRole, action, context: SEALING_CONTEXT }),
          'allowed',
        );
        assert.equal(
          ask(policy, { principalArn: functionRole, action }),
          'denied',
          `${action} without context`,
        );
      }
      for (const action of ['kms:CreateGrant', 'kms:PutKeyPolicy', 'kms:Encrypt', 'kms:ReEncryptFrom']) {
        assert.equal(
          ask(policy, { principalArn: functionRole, action, context: SEALING_CONTEXT }),
          'denied',
          action,
        );
      }
    });

    it('lets an account administrator administer it but never use it, grant use or rewrite the policy', () => {
      for (const action of [
        'kms:DescribeKey',
        'kms:DisableKey',
        'kms:ScheduleKeyDeletion',
        'kms:RevokeGrant',
      ]) {
        assert.equal(ask(policy, { principalArn: ADMIN, action }), 'allowed', action);
      }
      for (const action of [
        'kms:CreateGrant',
        'kms:PutKeyPolicy',
        'kms:Decrypt',
        'kms:Encrypt',
        'kms:GenerateDataKey',
        'kms:GenerateDataKeyWithoutPlaintext',
        'kms:ReEncryptFrom',
      ]) {
        assert.equal(
          ask(policy, { principalArn: ADMIN, action, context: SEALING_CONTEXT }),
          'denied',
          action,
        );
      }
    });

    it('is not opened through a grant or an IAM policy either: the Deny holds for everyone but the function', () => {
      for (const principalArn of [ADMIN, DEPLOYER, BREAK_GLASS, `arn:aws:iam::444455556666:role/other`]) {
        for (const action of ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:Encrypt', 'kms:CreateGrant']) {
          const request = { principalArn, action, context: SEALING_CONTEXT, authorizedElsewhere: true };
          assert.equal(ask(policy, request), 'denied', `${principalArn} ${action}`);
        }
      }
      assert.equal(
        ask(policy, { service: 'dynamodb.amazonaws.com', action: 'kms:Decrypt', authorizedElsewhere: true }),
        'denied',
      );
    });

    it('lets only the deploying role and the break-glass role change its policy', () => {
      assert.equal(ask(policy, { principalArn: DEPLOYER, action: 'kms:PutKeyPolicy' }), 'allowed');
      assert.equal(ask(policy, { principalArn: BREAK_GLASS, action: 'kms:PutKeyPolicy' }), 'allowed');
      assert.equal(ask(policy, { principalArn: ADMIN, action: 'kms:PutKeyPolicy' }), 'denied');
    });

    it('names administrative actions one by one: no wildcard that hides CreateGrant or PutKeyPolicy', () => {
      const administer = policy.find((statement) => statement.Sid === 'AdministerButNotUse');
      const actions = ([] as string[]).concat(administer?.Action ?? []);
      assert.ok(actions.length > 10);
      for (const action of actions) assert.ok(!action.includes('*'), `${action} is a wildcard`);
      assert.ok(!actions.includes('kms:CreateGrant') && !actions.includes('kms:PutKeyPolicy'));
      const deny = policy.find((statement) => statement.Sid === 'NoUseButTheFunction');
      assert.equal(deny?.Effect, 'Deny');
      assert.deepEqual(deny?.Principal, { AWS: '*' });
      assert.deepEqual(deny?.Action, [
        'kms:Decrypt',
        'kms:Encrypt',
        'kms:ReEncrypt*',
        'kms:GenerateDataKey*',
        'kms:CreateGrant',
      ]);
      assert.deepEqual(deny?.Condition, { StringNotEquals: { 'aws:PrincipalArn': functionRole } });
    });
  });

  describe("the table's key, when the service creates it", () => {
    const { template, functionRole } = synth({
      tableEncryption: 'customer-managed',
      breakGlassRoleArn: BREAK_GLASS,
    });
    // Read when the tests run, so that a template without the key fails each test rather than the suite.
    let policy: ReturnType<typeof keyPolicy> = [];
    beforeAll(() => {
      policy = keyPolicy(template, 'TableKey');
    });

    it('encrypts the table', () => {
      const [table] = Object.values(template.findResources('AWS::DynamoDB::Table'));
      assert.match(JSON.stringify(table?.Properties.SSESpecification), /TableKey.*Arn/);
    });

    it('lets the function use it through DynamoDB only', () => {
      for (const action of ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey']) {
        assert.equal(
          ask(policy, { principalArn: functionRole, action, context: VIA_DYNAMODB }),
          'allowed',
          action,
        );
      }
      for (const action of ['kms:Decrypt', 'kms:GenerateDataKey']) {
        const direct = { principalArn: functionRole, action, authorizedElsewhere: true };
        assert.equal(ask(policy, direct), 'denied', `${action} outside DynamoDB`);
      }
      assert.equal(
        ask(policy, { principalArn: functionRole, action: 'kms:CreateGrant', context: VIA_DYNAMODB }),
        'denied',
      );
    });

    it('lets the deploying role create the table (CreateGrant through DynamoDB) but not read it', () => {
      const grant = { ...VIA_DYNAMODB, 'kms:GrantIsForAWSResource': 'true' };
      assert.equal(
        ask(policy, { principalArn: DEPLOYER, action: 'kms:CreateGrant', context: grant }),
        'allowed',
      );
      assert.equal(
        ask(policy, { principalArn: DEPLOYER, action: 'kms:DescribeKey', context: VIA_DYNAMODB }),
        'allowed',
      );
      assert.equal(
        ask(policy, { principalArn: DEPLOYER, action: 'kms:CreateGrant' }),
        'denied',
        'outside DynamoDB',
      );
      const read = {
        principalArn: DEPLOYER,
        action: 'kms:Decrypt',
        context: VIA_DYNAMODB,
        authorizedElsewhere: true,
      };
      assert.equal(ask(policy, read), 'denied');
    });

    it('refuses a table reader that IAM allows dynamodb:GetItem, and an administrator a grant', () => {
      const reader = {
        principalArn: ADMIN,
        action: 'kms:Decrypt',
        context: VIA_DYNAMODB,
        authorizedElsewhere: true,
      };
      assert.equal(ask(policy, reader), 'denied');
      const grant = { ...VIA_DYNAMODB, 'kms:GrantIsForAWSResource': 'true' };
      assert.equal(ask(policy, { principalArn: ADMIN, action: 'kms:CreateGrant', context: grant }), 'denied');
      assert.equal(ask(policy, { principalArn: ADMIN, action: 'kms:PutKeyPolicy' }), 'denied');
      assert.equal(ask(policy, { principalArn: ADMIN, action: 'kms:DisableKey' }), 'allowed');
    });

    it("leaves DynamoDB's own grant-based use alone, so the table stays accessible", () => {
      for (const action of ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:Encrypt', 'kms:ReEncryptTo']) {
        const request = { service: 'dynamodb.amazonaws.com', action, authorizedElsewhere: true };
        assert.equal(ask(policy, request), 'allowed', action);
      }
    });

    it('lets only the deploying role and the break-glass role change its policy', () => {
      assert.equal(ask(policy, { principalArn: DEPLOYER, action: 'kms:PutKeyPolicy' }), 'allowed');
      assert.equal(ask(policy, { principalArn: BREAK_GLASS, action: 'kms:PutKeyPolicy' }), 'allowed');
    });

    it('is not created when a key is given, nor by default', () => {
      for (const props of [{}, { tableEncryption: 'aws-managed' as const }]) {
        const keys = Object.keys(synthService(props).template.findResources('AWS::KMS::Key'));
        assert.deepEqual(
          keys.filter((id) => id.includes('TableKey')),
          [],
        );
      }
    });
  });

  describe('the deploying role', () => {
    it("is the synthesizer's CloudFormation execution role, its qualifier followed", () => {
      const { template } = synthService();
      assert.ok(
        keyPolicy(template, 'TokenSealingKey').some((statement) =>
          JSON.stringify(statement).includes(DEPLOYER),
        ),
      );
    });

    it('may be named instead', () => {
      const deployRoleArn = `arn:aws:iam::${ACCOUNT}:role/pipeline-deploy`;
      const { template } = synthService({ deployRoleArn });
      const policy = keyPolicy(template, 'TokenSealingKey');
      assert.equal(ask(policy, { principalArn: deployRoleArn, action: 'kms:PutKeyPolicy' }), 'allowed');
      assert.equal(ask(policy, { principalArn: DEPLOYER, action: 'kms:PutKeyPolicy' }), 'denied');
    });

    it('follows a custom bootstrap qualifier', () => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new Stack(app, 'Q', {
        env: { account: ACCOUNT, region: REGION },
        synthesizer: new DefaultStackSynthesizer({ qualifier: 'team42' }),
      });
      new TokenVendingService(stack, 'TokenVending', { environment: 'test', providers: PROVIDERS });
      const policy = keyPolicy(Template.fromStack(stack), 'TokenSealingKey');
      const role = `arn:aws:iam::${ACCOUNT}:role/cdk-team42-cfn-exec-role-${ACCOUNT}-${REGION}`;
      assert.equal(ask(policy, { principalArn: role, action: 'kms:PutKeyPolicy' }), 'allowed');
    });
  });

  describe('secrets', () => {
    const { template, functionRole } = synth({ breakGlassRoleArn: BREAK_GLASS });
    const management = [
      'secretsmanager:PutResourcePolicy',
      'secretsmanager:DeleteResourcePolicy',
      'secretsmanager:DeleteSecret',
    ];

    it("keep their policy and their existence with the deploying and break-glass roles: an IAM admin can't lift the Deny", () => {
      for (const name of ['Secretalpha', 'Secretbeta', 'CallerCounterKey']) {
        const policy = secretPolicy(template, name);
        for (const action of management) {
          assert.equal(
            ask(policy, { principalArn: ADMIN, action, authorizedElsewhere: true }),
            'denied',
            `${name} ${action}`,
          );
          assert.equal(
            ask(policy, { principalArn: functionRole, action, authorizedElsewhere: true }),
            'denied',
          );
          for (const principalArn of [DEPLOYER, BREAK_GLASS]) {
            assert.equal(
              ask(policy, { principalArn, action, authorizedElsewhere: true }),
              'allowed',
              `${name} ${action}`,
            );
          }
        }
      }
    });

    it("provider secrets are read by the function and the break-glass role only, written by the account's operators", () => {
      for (const name of ['Secretalpha', 'Secretbeta']) {
        const policy = secretPolicy(template, name);
        const read = (principalArn: string) =>
          ask(policy, { principalArn, action: 'secretsmanager:GetSecretValue', authorizedElsewhere: true });
        assert.equal(read(functionRole), 'allowed');
        assert.equal(read(BREAK_GLASS), 'allowed');
        assert.equal(read(ADMIN), 'denied');
        assert.equal(read(DEPLOYER), 'denied');
        const put = {
          principalArn: ADMIN,
          action: 'secretsmanager:PutSecretValue',
          authorizedElsewhere: true,
        };
        assert.equal(ask(policy, put), 'allowed', 'rotating a provider secret stays an operator task');
      }
    });
  });

  describe('the caller-counter key', () => {
    const { template, functionRole } = synth({ breakGlassRoleArn: BREAK_GLASS });

    it('is a secret Secrets Manager generates (64 characters, no punctuation), with no value in the template', () => {
      const secrets = Object.entries(template.findResources('AWS::SecretsManager::Secret')).filter(([id]) =>
        id.includes('CallerCounterKey'),
      );
      assert.equal(secrets.length, 1);
      const [, secret] = secrets[0] as [string, { Properties: Record<string, unknown> }];
      assert.deepEqual(secret.Properties.GenerateSecretString, {
        ExcludePunctuation: true,
        PasswordLength: 64,
      });
      assert.equal(secret.Properties.SecretString, undefined);
      assert.equal(secret.Properties.Name, undefined, 'a generated name: nothing to collide with');
    });

    it('is read by the function only (break-glass included in the refusal), and written by nobody else', () => {
      const policy = secretPolicy(template, 'CallerCounterKey');
      const as = (principalArn: string, action: string) =>
        ask(policy, { principalArn, action, authorizedElsewhere: true });
      assert.equal(as(functionRole, 'secretsmanager:GetSecretValue'), 'allowed');
      for (const principalArn of [ADMIN, DEPLOYER, BREAK_GLASS]) {
        assert.equal(as(principalArn, 'secretsmanager:GetSecretValue'), 'denied', principalArn);
      }
      // A version-stage move or a rotation would make an old, replaced key current again (or a new one
      // nobody generated here): both are changes of the value, refused as PutSecretValue is.
      for (const action of [
        'secretsmanager:PutSecretValue',
        'secretsmanager:UpdateSecret',
        'secretsmanager:UpdateSecretVersionStage',
        'secretsmanager:RotateSecret',
      ]) {
        assert.equal(as(ADMIN, action), 'denied', action);
        assert.equal(as(functionRole, action), 'denied', action);
        for (const admin of [BREAK_GLASS, DEPLOYER]) {
          assert.equal(
            as(admin, action),
            'allowed',
            `${action}: the break-glass role replaces an exposed key`,
          );
        }
      }
    });

    it("is granted to the function's role exactly, and its ARN (never its value) is in the function's environment", () => {
      const grants = Object.values(template.findResources('AWS::IAM::Policy'))
        .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>)
        .filter((statement) => JSON.stringify(statement.Resource).includes('CallerCounterKey'));
      assert.equal(grants.length, 1);
      assert.deepEqual(([] as string[]).concat(grants[0]?.Action as string[]).sort(), [
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
      ]);
      assert.equal(Object.keys(grants[0]?.Resource as object)[0], 'Ref', 'the one secret, no wildcard');
      const [fn] = Object.values(template.findResources('AWS::Lambda::Function'));
      const value = fn?.Properties.Environment.Variables.TVM_COUNTER_KEY_SECRET_ARN as { Ref: string };
      assert.match(value.Ref, /^TokenVendingCallerCounterKey/);
    });
  });

  describe('API Gateway test-invoke', () => {
    it('has no permission to call the function: only the deployed stage may', () => {
      const { template } = synthService();
      const permissions = Object.values(template.findResources('AWS::Lambda::Permission'));
      assert.ok(permissions.length >= 3, 'one permission per method');
      for (const permission of permissions) {
        assert.doesNotMatch(JSON.stringify(permission.Properties.SourceArn), /test-invoke-stage/);
      }
    });
  });
});
