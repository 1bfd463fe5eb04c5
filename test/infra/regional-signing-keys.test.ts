import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { ProviderEntryInput } from '../../lambda/config/provider-schema';
import { signingKeyAlias } from '../../lambda/oauth/signing-keys';
import { TokenVendingService } from '../../packages/construct/src/token-vending-service';
import { evaluate, keyPolicy } from './policy-model';
import { ACCOUNT, PROVIDERS } from './support';

const [PRIMARY, SECONDARY] = ['eu-north-1', 'eu-west-1'] as const;
const DEPLOYER = (region: string) =>
  `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-${region}`;
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/Admin`;

const KEYED: ProviderEntryInput[] = [
  ...PROVIDERS,
  {
    id: 'maskinporten',
    tokenEndpoint: 'https://maskinporten.example/token',
    grantType: 'jwt_bearer',
    clientAuth: 'none',
    secretId: 'token-vending/maskinporten',
    assertion: { audience: 'https://maskinporten.example/' },
    defaultScopes: ['a'],
    allowedScopes: ['a'],
    signingKey: { kms: 'create', algorithm: 'RS256', next: { kms: 'create', name: '2', algorithm: 'RS256' } },
  },
];

const json = (value: unknown) => JSON.stringify(value);

/** Two regions as packages/construct/README.md shows them, with cdk.json's context (weak references). */
function synthTwoRegions(providers: ProviderEntryInput[] = KEYED, secondaryProviders = providers) {
  const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8'));
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
  const stackIn = (region: string) =>
    new Stack(app, `In-${region}`, { env: { account: ACCOUNT, region }, crossRegionReferences: true });
  const regions = [PRIMARY, SECONDARY];
  const primaryStack = stackIn(PRIMARY);
  const primary = new TokenVendingService(primaryStack, 'TokenVending', {
    environment: 'test',
    providers,
    regions,
  });
  const secondaryStack = stackIn(SECONDARY);
  const secondary = new TokenVendingService(secondaryStack, 'TokenVending', {
    environment: 'test',
    providers: secondaryProviders,
    regions,
    primary,
  });
  secondaryStack.addStackDependency(primaryStack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return {
    primary: { stack: primaryStack, service: primary, template: Template.fromStack(primaryStack) },
    secondary: { stack: secondaryStack, service: secondary, template: Template.fromStack(secondaryStack) },
  };
}

describe('KMS signing keys in several regions (signingKey "create")', () => {
  const { primary, secondary } = synthTwoRegions();
  const signingKeys = (template: Template, type: string) =>
    Object.entries(template.findResources(type)).filter(([id]) => id.includes('SigningKey'));
  /**
   * A function role's ARN as the policy model names roles of the primary's template (by logical id), which
   * makes every region's function role; the secondary reads its own from the primary's outputs.
   */
  const roleArnOf = (region: string) =>
    `arn:aws:iam::${ACCOUNT}:role/${primary.stack.resolve(primary.service.functionRoleFor(region).roleArn)['Fn::GetAtt'][0]}`;
  const outputs = () => {
    const named: Record<string, string> = {};
    for (const [name, output] of Object.entries(primary.template.toJSON().Outputs ?? {})) {
      const [id, attribute] =
        (output as { Value: { 'Fn::GetAtt'?: [string, string] } }).Value['Fn::GetAtt'] ?? [];
      if (id && attribute === 'Arn') named[name] = `arn:aws:iam::${ACCOUNT}:role/${id}`;
    }
    return named;
  };

  it('makes each created key (current and next) a multi-Region SIGN_VERIFY key in the primary region', () => {
    const keys = signingKeys(primary.template, 'AWS::KMS::Key');
    assert.equal(keys.length, 2);
    for (const [, key] of keys) {
      assert.equal(key.Properties.MultiRegion, true);
      assert.equal(key.Properties.KeyUsage, 'SIGN_VERIFY');
      assert.equal(key.Properties.KeySpec, 'RSA_2048');
    }
    assert.deepEqual([...primary.service.signingKeys.keys()].sort(), ['maskinporten/1', 'maskinporten/2']);
  });

  it('replicates each into the other region, from the primary key’s ARN, retained, under the same alias', () => {
    const replicas = signingKeys(secondary.template, 'AWS::KMS::ReplicaKey');
    assert.equal(replicas.length, 2);
    for (const [, replica] of replicas) {
      assert.equal(replica.DeletionPolicy, 'Retain');
      const reference = replica.Properties.PrimaryKeyArn['Fn::GetStackOutput'];
      assert.equal(reference.Region, PRIMARY);
      assert.match(reference.OutputName, /SigningKeymaskinporten/);
    }
    assert.equal(signingKeys(secondary.template, 'AWS::KMS::Key').length, 0, 'the other region makes none');
    // `public-key` reads a key by its alias in whichever region it runs: the same name in both.
    const aliases = (template: Template) =>
      Object.values(template.findResources('AWS::KMS::Alias'))
        .map((alias) => alias.Properties.AliasName)
        .sort();
    const expected = ['1', '2'].map((name) => signingKeyAlias('test', 'maskinporten', name));
    assert.deepEqual(aliases(primary.template), expected);
    assert.deepEqual(aliases(secondary.template), expected);
  });

  it("lets each region's function sign with its own region's key only, and nobody else", () => {
    const primaryRole = roleArnOf(PRIMARY);
    const secondaryRole = roleArnOf(SECONDARY);
    const sign = {
      action: 'kms:Sign',
      context: { 'kms:MessageType': 'RAW', 'kms:SigningAlgorithm': 'RSASSA_PKCS1_V1_5_SHA_256' },
    };
    const cases: Array<[Template, string, string, string]> = [
      [primary.template, 'SigningKeymaskinporten1', primaryRole, secondaryRole],
      [secondary.template, 'SigningKeymaskinporten1', secondaryRole, primaryRole],
      [secondary.template, 'SigningKeymaskinporten2', secondaryRole, primaryRole],
    ];
    for (const [template, name, own, other] of cases) {
      const policy = keyPolicy(template, name, outputs());
      assert.equal(evaluate(policy, { principalArn: own, ...sign }), 'allowed', `${name}: its own function`);
      assert.equal(evaluate(policy, { principalArn: other, ...sign }), 'denied', `${name}: the other's`);
      for (const principalArn of [ADMIN, DEPLOYER(PRIMARY), DEPLOYER(SECONDARY)]) {
        assert.equal(evaluate(policy, { principalArn, ...sign }), 'denied', principalArn);
        assert.equal(evaluate(policy, { principalArn, action: 'kms:CreateGrant' }), 'denied', principalArn);
        assert.equal(evaluate(policy, { principalArn, action: 'kms:GetPublicKey' }), 'allowed', principalArn);
      }
      assert.equal(evaluate(policy, { principalArn: ADMIN, action: 'kms:PutKeyPolicy' }), 'denied');
    }
  });

  it("lets only the other region's deploying role replicate each primary key, and only into that region", () => {
    for (const [id] of signingKeys(primary.template, 'AWS::KMS::Key')) {
      const policy = keyPolicy(primary.template, id);
      const replicate = { action: 'kms:ReplicateKey', context: { 'kms:ReplicaRegion': SECONDARY } };
      assert.equal(evaluate(policy, { principalArn: DEPLOYER(SECONDARY), ...replicate }), 'allowed', id);
      assert.equal(evaluate(policy, { principalArn: ADMIN, ...replicate }), 'denied', id);
      assert.equal(
        evaluate(policy, {
          principalArn: DEPLOYER(SECONDARY),
          action: 'kms:ReplicateKey',
          context: { 'kms:ReplicaRegion': 'us-east-1' },
        }),
        'denied',
        id,
      );
    }
  });

  it("points each region's function at its own keys, in TVM_SIGNING_KEYS and in its IAM policy", () => {
    const vendFunction = (template: Template) =>
      Object.values(template.findResources('AWS::Lambda::Function')).find(
        (fn) => fn.Properties.Environment?.Variables?.TVM_TABLE !== undefined,
      );
    const environment = json(
      vendFunction(secondary.template)?.Properties.Environment.Variables.TVM_SIGNING_KEYS,
    );
    const replicaIds = signingKeys(secondary.template, 'AWS::KMS::ReplicaKey').map(([id]) => id);
    for (const id of replicaIds) assert.ok(environment.includes(id), `${id} in TVM_SIGNING_KEYS`);
    const signs = Object.values(secondary.template.findResources('AWS::IAM::Policy'))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>)
      .filter((statement) => json(statement.Action).includes('kms:Sign'));
    assert.equal(signs.length, 1);
    const resources = json(signs[0]?.Resource);
    for (const id of replicaIds) assert.ok(resources.includes(id), `${id} may be signed with`);
    assert.ok(!resources.includes('GetStackOutput'), "never the primary region's key");
  });

  it('is cdk-nag clean in both regions (synth ran the checks)', () => {
    assert.ok(signingKeys(secondary.template, 'AWS::KMS::ReplicaKey').length > 0);
  });

  it('refuses, naming the entry, a created key the primary region did not create', () => {
    const [, , maskinporten] = KEYED;
    const other = [
      ...PROVIDERS,
      { ...maskinporten, signingKey: { kms: 'create', name: '3', algorithm: 'RS256' } },
    ] as ProviderEntryInput[];
    assert.throws(
      () => synthTwoRegions(KEYED, other),
      (error: unknown) =>
        (error as Error).name === 'TokenVendingSettingsError' &&
        /providers\["maskinporten"\]\.signingKey: the primary region's service created no signing key maskinporten\/3/.test(
          (error as Error).message,
        ),
    );
  });
});
