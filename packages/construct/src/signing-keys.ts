import { type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { ProviderConfig, SigningKeyEntry } from '../../../lambda/config/provider-schema';
import { KMS_SIGNING_ALGORITHM } from '../../../lambda/oauth/kms-signing-algorithms';
import { signingKeyAlias } from '../../../lambda/oauth/signing-keys';
import { administerButNotUse, changePolicy, type PolicyRoles } from './key-policies';

/** The provider's signing keys the stack made, and every key (made or named) the function signs with. */
export interface ProviderSigningKeys {
  /** Created keys, by `<provider id>/<name>`. */
  readonly created: ReadonlyMap<string, kms.Key>;
  /** Every signing key's ARN, current and next: exactly what the function role may sign with. */
  readonly keyArns: readonly string[];
  /** `TVM_SIGNING_KEYS` for the function, `{"<provider>": {"<name>": "<ARN>"}}`; undefined when none was made. */
  readonly environment: string | undefined;
}

/**
 * One asymmetric KMS key per `signingKey` entry that says `"create"` (RSA for RS256/PS256, ECC NIST P-256 for
 * ES256; SIGN_VERIFY), current and next alike, each under a construct id from its provider and `name` only, so
 * a key keeps its resource when it moves from next to current. The function role gets `kms:Sign` and
 * `kms:GetPublicKey` on exactly the providers' keys, next ones included: a switch then never waits on an IAM
 * change that CloudFormation may apply after the function's new settings.
 */
export function createSigningKeys(
  scope: Construct,
  providers: readonly ProviderConfig[],
  roles: PolicyRoles,
  role: iam.IRole,
  removalPolicy: RemovalPolicy,
  environment: string,
): ProviderSigningKeys {
  const created = new Map<string, kms.Key>();
  const keyArns: string[] = [];
  const names: Record<string, Record<string, string>> = {};
  for (const provider of providers) {
    const { signingKey } = provider;
    if (!signingKey) continue;
    for (const key of [signingKey, ...(signingKey.next ? [signingKey.next] : [])]) {
      if (key.kms !== 'create') {
        keyArns.push(key.kms);
        continue;
      }
      const name = key.name ?? '1';
      const made = new kms.Key(scope, `SigningKey-${provider.id}-${name}`, {
        description: `Signs the ${provider.id} provider's client assertions; only the token vending function signs`,
        keySpec: keySpecOf(key),
        keyUsage: kms.KeyUsage.SIGN_VERIFY,
        // For `npm run secret -- public-key`, which reads the public half by alias.
        alias: signingKeyAlias(environment, provider.id, name),
        removalPolicy,
        policy: signingKeyPolicy(scope, roles, key.algorithm),
      });
      created.set(`${provider.id}/${name}`, made);
      keyArns.push(made.keyArn);
      names[provider.id] = { ...names[provider.id], [name]: made.keyArn };
    }
  }
  if (keyArns.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SignProviderAssertions',
        actions: ['kms:Sign', 'kms:GetPublicKey'],
        resources: keyArns,
      }),
    );
  }
  return {
    created,
    keyArns,
    environment: created.size > 0 ? Stack.of(scope).toJsonString(names) : undefined,
  };
}

const keySpecOf = (key: SigningKeyEntry): kms.KeySpec =>
  key.algorithm === 'ES256'
    ? kms.KeySpec.ECC_NIST_P256
    : key.keySpec === 'RSA_3072'
      ? kms.KeySpec.RSA_3072
      : kms.KeySpec.RSA_2048;

/**
 * A signing key's policy, in the sealing key's style: the account administers it and reads its public half
 * (what the provider registers), nobody uses it but the function role, which signs RAW messages with the
 * entry's algorithm only; only the deploying and break-glass roles change the policy. The Deny holds whatever
 * IAM policies, grants or later Allows say.
 */
export function signingKeyPolicy(
  scope: Construct,
  roles: PolicyRoles,
  algorithm: SigningKeyEntry['algorithm'],
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
