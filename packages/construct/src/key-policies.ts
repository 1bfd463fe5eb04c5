import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { KMS_SIGNING_ALGORITHM } from '../../../lambda/oauth/kms-signing-algorithms';
import type { SigningKeySetting } from './provider-entry';

/** The roles a key or secret policy names: who uses it, who may change its policy. */
export interface PolicyRoles {
  /** The vend function's role: the only principal that may use the keys and read the secrets. */
  readonly functionRoleArn: string;
  /** The role CloudFormation deploys the stack with, and the optional break-glass role. */
  readonly policyAdminArns: readonly string[];
}

/**
 * What the account may do with either key: look, enable and disable, rotate, tag, revoke grants, schedule
 * and cancel deletion. Listed one by one: `kms:Create*` would include `CreateGrant` (and so any use) and
 * `kms:Put*` would include `PutKeyPolicy` (and so anything at all).
 */
export const KEY_ADMINISTRATION_ACTIONS = [
  'kms:DescribeKey',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListKeyRotations',
  'kms:ListResourceTags',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:EnableKeyRotation',
  'kms:DisableKeyRotation',
  'kms:RotateKeyOnDemand',
  'kms:UpdateKeyDescription',
  'kms:CreateAlias',
  'kms:UpdateAlias',
  'kms:DeleteAlias',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:RevokeGrant',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
] as const;

/** Every action that encrypts or decrypts with a key, directly or by handing out a grant to do so. */
export const KEY_USE_ACTIONS = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:ReEncrypt*',
  'kms:GenerateDataKey*',
] as const;

/**
 * The sealing key's policy. The account administers it; only the function role uses it, under the service's
 * encryption context; only the deploying and break-glass roles change the policy. The Deny holds whatever
 * IAM policies, grants or later Allows say: nobody else decrypts, encrypts (which would let them plant a
 * token) or creates a grant.
 */
export function sealingKeyPolicy(scope: Construct, roles: PolicyRoles): iam.PolicyDocument {
  const account = Stack.of(scope).account;
  return new iam.PolicyDocument({
    statements: [
      administerButNotUse(),
      changePolicy(roles),
      new iam.PolicyStatement({
        sid: 'SealAndOpenTokens',
        principals: [new iam.ArnPrincipal(roles.functionRoleArn)],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: {
          StringEquals: {
            'kms:EncryptionContext:service': 'token-vending',
            'aws:PrincipalAccount': account,
          },
        },
      }),
      new iam.PolicyStatement({
        sid: 'NoUseButTheFunction',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...KEY_USE_ACTIONS, 'kms:CreateGrant'],
        resources: ['*'],
        conditions: { StringNotEquals: { 'aws:PrincipalArn': roles.functionRoleArn } },
      }),
    ],
  });
}

/**
 * The table's key, when the service creates it. DynamoDB uses a table key two ways: on the caller's behalf
 * (`kms:ViaService` is DynamoDB and the principal is the caller: the function's reads and writes, the deploying
 * role's `CreateGrant` and `DescribeKey` when CloudFormation creates or re-keys the table), and by itself
 * through the grant that `CreateGrant` made (background checks, backups: the principal is the DynamoDB
 * service, not one of the account's). The Denies therefore bind the account's own principals only, and
 * leave the service's grant alone; nobody but the deploying and break-glass roles may create that grant.
 */
export function tableKeyPolicy(scope: Construct, roles: PolicyRoles): iam.PolicyDocument {
  const stack = Stack.of(scope);
  const viaDynamoDb = `dynamodb.${stack.region}.${stack.urlSuffix}`;
  const accountPrincipalsOnly = {
    StringEquals: { 'aws:PrincipalAccount': stack.account },
    Bool: { 'aws:PrincipalIsAWSService': 'false' },
  };
  return new iam.PolicyDocument({
    statements: [
      administerButNotUse(),
      changePolicy(roles),
      new iam.PolicyStatement({
        sid: 'FunctionUsesTheTable',
        principals: [new iam.ArnPrincipal(roles.functionRoleArn)],
        actions: [...KEY_USE_ACTIONS, 'kms:DescribeKey'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'kms:ViaService': viaDynamoDb, 'kms:CallerAccount': stack.account },
        },
      }),
      new iam.PolicyStatement({
        sid: 'DeployerGrantsDynamoDB',
        principals: [new iam.AccountRootPrincipal()],
        actions: ['kms:CreateGrant', 'kms:DescribeKey'],
        resources: ['*'],
        conditions: {
          ArnEquals: { 'aws:PrincipalArn': [...roles.policyAdminArns] },
          StringEquals: { 'kms:ViaService': viaDynamoDb },
          Bool: { 'kms:GrantIsForAWSResource': 'true' },
        },
      }),
      new iam.PolicyStatement({
        sid: 'NoUseButTheFunction',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...KEY_USE_ACTIONS],
        resources: ['*'],
        conditions: {
          ...accountPrincipalsOnly,
          StringNotEquals: { 'aws:PrincipalArn': roles.functionRoleArn },
        },
      }),
      new iam.PolicyStatement({
        sid: 'NoGrantButTheDeployers',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: {
          ...accountPrincipalsOnly,
          StringNotEquals: { 'aws:PrincipalArn': [...roles.policyAdminArns] },
        },
      }),
      new iam.PolicyStatement({
        sid: 'NoUseOutsideDynamoDB',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...KEY_USE_ACTIONS, 'kms:CreateGrant'],
        resources: ['*'],
        conditions: { ...accountPrincipalsOnly, StringNotEquals: { 'kms:ViaService': viaDynamoDb } },
      }),
    ],
  });
}

export function administerButNotUse(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'AdministerButNotUse',
    principals: [new iam.AccountRootPrincipal()],
    actions: [...KEY_ADMINISTRATION_ACTIONS],
    resources: ['*'],
  });
}

/**
 * Named by `aws:PrincipalArn` under the account principal rather than as principals: a role deleted and made
 * again under the same name (`cdk bootstrap` after a bootstrap stack was lost) matches again, where a role
 * principal would have been replaced by the old role's unique id for good.
 */
export function changePolicy(roles: PolicyRoles): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'OnlyTheDeployerChangesThePolicy',
    principals: [new iam.AccountRootPrincipal()],
    actions: ['kms:PutKeyPolicy'],
    resources: ['*'],
    conditions: { ArnEquals: { 'aws:PrincipalArn': [...roles.policyAdminArns] } },
  });
}

/**
 * A signing key's policy, in the sealing key's style: the account administers it and reads its public half
 * (what the provider registers), nobody uses it but the function role, which signs RAW messages with the
 * entry's algorithm only; only the deploying and break-glass roles change the policy. The Deny holds whatever
 * IAM policies, grants or later Allows say. Exported for a key made outside the stack (an imported
 * business-certificate key): give it this policy, with the function role of its region.
 */
export function signingKeyPolicy(
  scope: Construct,
  roles: PolicyRoles,
  algorithm: SigningKeySetting['algorithm'],
): iam.PolicyDocument {
  const account = Stack.of(scope).account;
  return new iam.PolicyDocument({
    statements: [
      administerButNotUse(),
      changePolicy(roles),
      new iam.PolicyStatement({
        sid: 'ReadThePublicKey',
        principals: [new iam.AccountRootPrincipal()],
        actions: ['kms:GetPublicKey'],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'FunctionSignsAssertions',
        principals: [new iam.ArnPrincipal(roles.functionRoleArn)],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: {
          StringEquals: {
            'kms:MessageType': 'RAW',
            'kms:SigningAlgorithm': KMS_SIGNING_ALGORITHM[algorithm],
            'aws:PrincipalAccount': account,
          },
        },
      }),
      new iam.PolicyStatement({
        sid: 'NoUseButTheFunction',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Sign', 'kms:CreateGrant'],
        resources: ['*'],
        conditions: { StringNotEquals: { 'aws:PrincipalArn': roles.functionRoleArn } },
      }),
    ],
  });
}
