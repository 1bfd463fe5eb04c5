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
 * Every action that changes which value of the counter key is current: writing one, and moving a version
 * stage or rotating, either of which makes an old, replaced key (or one nobody generated here) current again.
 */
export const COUNTER_KEY_VALUE_ACTIONS = [
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecret',
  'secretsmanager:UpdateSecretVersionStage',
  'secretsmanager:RotateSecret',
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
