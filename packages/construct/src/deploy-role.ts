import { DefaultStackSynthesizer, Fn, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * The role CloudFormation deploys the stack with: the one the key and secret policies let change those
 * policies. By default the CDK bootstrap's execution role (`cdk-<qualifier>-cfn-exec-role-<account>-<region>`),
 * as the stack's synthesizer names it; a deploy that uses another role (`cdk deploy --role-arn`, another
 * synthesizer) must name it, or the next deploy could not update the policies it wrote.
 */
export function deployRoleArn(scope: Construct, configured: string | undefined): string {
  if (configured) return configured;
  const synthesizer = Stack.of(scope).synthesizer;
  if (synthesizer instanceof DefaultStackSynthesizer) {
    // The synthesizer's ARN still holds `${AWS::Partition}` (and, without an env, account and region)
    // placeholders, which CloudFormation fills in.
    return Fn.sub(synthesizer.cloudFormationExecutionRoleArn);
  }
  throw new Error(
    `${scope.node.path}: the stack's synthesizer names no CloudFormation execution role; set deployRoleArn to the role that deploys it`,
  );
}
