import assert from 'node:assert/strict';
import { Stack } from 'aws-cdk-lib';
import type { ProviderEntryInput } from '../../lambda/config/provider-schema';
import * as constructPackage from '../../packages/construct/src/index';
import { evaluate, keyPolicy, REGION } from './policy-model';
import { ACCOUNT, PROVIDERS, policyStatements, synthService } from './support';

const IMPORTED = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0b7c8a4e-0000-4000-8000-00000000abcd`;
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/Admin`;
const DEPLOYER = `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-${REGION}`;

const KEYED: ProviderEntryInput[] = [
  ...PROVIDERS,
  {
    id: 'signer',
    tokenEndpoint: 'https://idp.signer.example/token',
    clientAuth: 'private_key_jwt',
    secretId: 'token-vending/signer',
    signingKey: { kms: 'create', algorithm: 'ES256', next: { kms: 'create', name: '2', algorithm: 'PS256' } },
  },
  {
    id: 'certified',
    tokenEndpoint: 'https://idp.certified.example/token',
    grantType: 'jwt_bearer',
    clientAuth: 'none',
    secretId: 'token-vending/certified',
    assertion: { audience: 'https://idp.certified.example/', header: 'x5c' },
    defaultScopes: ['a'],
    allowedScopes: ['a'],
    signingKey: { kms: IMPORTED, algorithm: 'RS256' },
  },
];

describe('Signing keys in KMS (signingKey)', () => {
  const { template, stack } = synthService({ providers: KEYED });
  const functionRole = () => {
    const [id] = Object.keys(template.findResources('AWS::IAM::Role')).filter((name) =>
      name.includes('FunctionRole'),
    );
    return `arn:aws:iam::${ACCOUNT}:role/${id}`;
  };

  it('creates an asymmetric SIGN_VERIFY key per created signing key, of the algorithm’s spec', () => {
    const keys = Object.entries(template.findResources('AWS::KMS::Key')).filter(([id]) =>
      id.includes('SigningKey'),
    );
    const specs = keys.map(([, key]) => [key.Properties.KeySpec, key.Properties.KeyUsage]).sort();
    assert.deepEqual(specs, [
      ['ECC_NIST_P256', 'SIGN_VERIFY'],
      ['RSA_2048', 'SIGN_VERIFY'],
    ]);
    assert.equal(
      stack.node.tryFindChild('TokenVending')?.node.tryFindChild('SigningKey-signer-1') !== undefined,
      true,
    );
  });

  it('keeps the logical ids of the existing resources', () => {
    const before = Object.keys(synthService().template.toJSON().Resources);
    const after = Object.keys(template.toJSON().Resources);
    for (const id of before.filter((name) => !name.includes('SecretSigner')))
      assert.ok(after.includes(id), id);
  });

  it('lets the function sign (RAW, the entry’s algorithm) and nobody else, administer but not use', () => {
    const policy = keyPolicy(template, 'SigningKeysigner1');
    const role = functionRole();
    const sign = {
      action: 'kms:Sign',
      context: { 'kms:MessageType': 'RAW', 'kms:SigningAlgorithm': 'ECDSA_SHA_256' },
    };
    assert.equal(evaluate(policy, { principalArn: role, ...sign }), 'allowed');
    assert.equal(
      evaluate(policy, {
        principalArn: role,
        action: 'kms:Sign',
        context: { 'kms:MessageType': 'DIGEST', 'kms:SigningAlgorithm': 'ECDSA_SHA_256' },
      }),
      'denied',
    );
    for (const principalArn of [ADMIN, DEPLOYER]) {
      assert.equal(evaluate(policy, { principalArn, ...sign }), 'denied', principalArn);
      assert.equal(evaluate(policy, { principalArn, action: 'kms:CreateGrant' }), 'denied', principalArn);
      assert.notEqual(evaluate(policy, { principalArn, action: 'kms:GetPublicKey' }), 'denied', principalArn);
      assert.notEqual(evaluate(policy, { principalArn, action: 'kms:DisableKey' }), 'denied', principalArn);
    }
    assert.equal(evaluate(policy, { principalArn: ADMIN, action: 'kms:PutKeyPolicy' }), 'denied');
    assert.equal(evaluate(policy, { principalArn: role, action: 'kms:PutKeyPolicy' }), 'denied');
  });

  it('gives the function role kms:Sign and GetPublicKey on exactly the providers’ keys, next included', () => {
    const statements = policyStatements(template).filter((statement) =>
      statement.Action.includes('kms:Sign'),
    );
    assert.equal(statements.length, 1);
    const [statement] = statements;
    assert.deepEqual(statement?.Action.sort(), ['kms:GetPublicKey', 'kms:Sign']);
    assert.equal(statement?.Resource.length, 3);
    assert.ok(statement?.Resource.includes(IMPORTED));
    assert.ok(!JSON.stringify(statement?.Resource).includes('"*"'));
  });

  it('tells the function which key it created for which entry, and says nothing when there are none', () => {
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function'));
    assert.ok(JSON.stringify(fn?.Properties.Environment.Variables.TVM_SIGNING_KEYS).includes('signer'));
    const [plain] = Object.values(synthService().template.findResources('AWS::Lambda::Function'));
    assert.equal(plain?.Properties.Environment.Variables.TVM_SIGNING_KEYS, undefined);
  });

  it('exports the policy it gives its keys, for a key made outside the stack (docs/providers.md)', () => {
    const roles = { functionRoleArn: functionRole(), policyAdminArns: [DEPLOYER] };
    const exported = constructPackage.signingKeyPolicy(stack, roles, 'ES256').toJSON();
    const sids = (document: { Statement: Array<{ Sid: string }> }) => document.Statement.map((s) => s.Sid);
    const [created] = Object.entries(template.findResources('AWS::KMS::Key'))
      .filter(([id]) => id.includes('SigningKeysigner1'))
      .map(([, key]) => key.Properties.KeyPolicy);
    assert.deepEqual(sids(Stack.of(stack).resolve(exported)), sids(created));
    assert.equal(
      evaluate((Stack.of(stack).resolve(exported) as { Statement: never[] }).Statement, {
        principalArn: functionRole(),
        action: 'kms:Sign',
        context: { 'kms:MessageType': 'RAW', 'kms:SigningAlgorithm': 'ECDSA_SHA_256' },
      }),
      'allowed',
    );
  });

  it('is cdk-nag clean: synth with AwsSolutions checks reports nothing unacknowledged', () => {
    assert.doesNotThrow(() => synthService({ providers: KEYED }, { nag: true }));
  });
});
