import { Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { RegionalPlacement } from './regional-state';
import { acknowledgeVpcFunction } from './service-egress';
import { functionRoleName } from './service-regions';

export interface FunctionRoles {
  /** The role of this stack's function. */
  readonly own: iam.IRole;
  /** Every other region's function role, by region: only in the primary region's construct. */
  readonly others: ReadonlyMap<string, iam.Role>;
}

const DESCRIPTION = 'Token vending function: its log group, its table, the secrets of its providers';

/**
 * The function roles of a deployment. A single-Region service and the primary region's make their own
 * (`FunctionRole`); the primary also makes every other region's (IAM is global), because the replicated
 * secrets' policies name them all: a policy naming a role that no stack had made yet (or whose stack was
 * gone) would admit whoever could create a role of that name. Another region's construct imports its role
 * from the primary's (`primaryRole`) and attaches its own permissions to it, as an `iam.Policy` of its stack.
 */
export function createFunctionRoles(
  scope: Construct,
  environment: string,
  placement: RegionalPlacement | undefined,
  primaryRole: iam.IRole | undefined,
  inVpc: boolean,
): FunctionRoles {
  if (placement && !placement.isPrimary && primaryRole) {
    return {
      own: iam.Role.fromRoleArn(scope, 'FunctionRole', primaryRole.roleArn, { mutable: true }),
      others: new Map(),
    };
  }
  // Lambda adds the network-interface permissions a function in a VPC needs only to a role it makes itself;
  // without them, creating the function fails. Every region has the same egress, so the primary gives them
  // to every region's role, each for its own region.
  const roleIn = (id: string, region: string | undefined, description: string) => {
    const role = new iam.Role(scope, id, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description,
      ...(region ? { roleName: functionRoleName(environment, region) } : {}),
      // Part of the role itself, so the permissions exist before the function is created.
      ...(inVpc
        ? {
            inlinePolicies: {
              NetworkInterfaces: networkInterfacePolicy(scope, region ?? Stack.of(scope).region),
            },
          }
        : {}),
    });
    if (inVpc)
      // On the role's own resource, whose only policy is the one above: not on grants added to it later.
      acknowledgeVpcFunction(
        role.node.defaultChild as Construct,
        networkInterfaceResource(scope, region ?? Stack.of(scope).region, true),
      );
    return role;
  };
  return {
    own: roleIn('FunctionRole', placement?.region, DESCRIPTION),
    others: new Map(
      (placement?.regions ?? [])
        .filter((region) => region !== placement?.region)
        .map((region) => [
          region,
          roleIn(
            `FunctionRole-${region}`,
            region,
            `Token vending function in ${region}; its permissions are in that region's stack`,
          ),
        ]),
    ),
  };
}

/** What Lambda does with a VPC function's network interfaces, in the role's name (the Lambda guide's list). */
const NETWORK_INTERFACE_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];
/** Documented to work only on all resources (`"Resource": "*"`). */
const DESCRIBE_ACTIONS = ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'];

/**
 * The EC2 actions Lambda needs for a function in a VPC, and nothing of the managed
 * `AWSLambdaVPCAccessExecutionRole` besides (its `logs:*` on every log group; the role writes its own log group
 * alone). The interface actions are on the region's and account's EC2 resources, in the form the Lambda guide
 * gives for `DeleteNetworkInterface` (Lambda names no interface before it creates one); the Describe actions
 * on `*`, the only form they work in. The function's own code may use none of them: requests from inside the
 * execution environment carry `lambda:SourceFunctionArn`, Lambda's own network-interface calls do not.
 */
function networkInterfacePolicy(scope: Construct, region: string): iam.PolicyDocument {
  const { account, partition } = Stack.of(scope);
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'LambdaManagesNetworkInterfaces',
        actions: NETWORK_INTERFACE_ACTIONS,
        resources: [networkInterfaceResource(scope, region)],
      }),
      new iam.PolicyStatement({
        sid: 'LambdaDescribesNetworkInterfaces',
        actions: DESCRIBE_ACTIONS,
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'NotTheFunctionCode',
        effect: iam.Effect.DENY,
        actions: [...NETWORK_INTERFACE_ACTIONS, ...DESCRIBE_ACTIONS],
        resources: ['*'],
        conditions: {
          ArnLike: { 'lambda:SourceFunctionArn': `arn:${partition}:lambda:*:${account}:function:*` },
        },
      }),
    ],
  });
}

/**
 * Every EC2 resource of the role's region and account; `asFinding`: as cdk-nag names it, a value known only
 * at deploy written as `<AWS::…>`.
 */
function networkInterfaceResource(scope: Construct, region: string, asFinding = false): string {
  const { account, partition } = Stack.of(scope);
  const shown = (value: string, pseudo: string) =>
    asFinding && Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value;
  return `arn:${shown(partition, 'Partition')}:ec2:${shown(region, 'Region')}:${shown(account, 'AccountId')}:*/*`;
}
