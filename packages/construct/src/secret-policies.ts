import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/**
 * Actions that would undo a secret's resource policy (or the secret): only the deploying and break-glass
 * roles may take them, or anyone allowed `PutResourcePolicy` by IAM could drop the Deny on reading.
 */
export const SECRET_POLICY_ACTIONS = [
  'secretsmanager:PutResourcePolicy',
  'secretsmanager:DeleteResourcePolicy',
  'secretsmanager:DeleteSecret',
] as const;

/**
 * Denies reading `secret` to all but `readers`, and changing its policy or deleting it to all but
 * `policyAdmins`, whatever other IAM policies say. `alsoReserved` adds actions only `policyAdmins` may take.
 */
export function restrictSecret(
  secret: secretsmanager.ISecret,
  readers: readonly string[],
  policyAdmins: readonly string[],
  alsoReserved: readonly string[] = [],
): void {
  secret.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'OnlyTheFunctionReads',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['secretsmanager:GetSecretValue'],
      resources: ['*'],
      conditions: { StringNotEquals: { 'aws:PrincipalArn': [...readers] } },
    }),
  );
  secret.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'OnlyTheDeployerManages',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: [...SECRET_POLICY_ACTIONS, ...alsoReserved],
      resources: ['*'],
      conditions: { StringNotEquals: { 'aws:PrincipalArn': [...policyAdmins] } },
    }),
  );
}
