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
  // to every region's role.
  const managedPolicies = inVpc
    ? [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole')]
    : [];
  const roleIn = (id: string, region: string | undefined, description: string) => {
    const role = new iam.Role(scope, id, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description,
      ...(region ? { roleName: functionRoleName(environment, region) } : {}),
      ...(inVpc ? { managedPolicies } : {}),
    });
    if (inVpc) acknowledgeVpcFunction(role);
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
