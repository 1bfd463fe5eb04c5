import type { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { acknowledge } from './cdk-nag';

export interface FixedEgress {
  readonly vpc: ec2.Vpc;
  /** The function's: all outbound; the interface endpoints admit it, and nothing else, on 443. */
  readonly functionSecurityGroup: ec2.SecurityGroup;
  /** The public addresses provider traffic leaves from, one per zone: what to send a provider's allowlist. */
  readonly addresses: readonly string[];
}

/**
 * A VPC whose private subnets reach the internet only through NAT gateways with Elastic IPs, one per zone:
 * the function placed there has fixed egress addresses. DynamoDB (gateway endpoint), Secrets Manager and KMS
 * (interface endpoints) are reached inside AWS, so only provider traffic leaves through NAT. Flow logs record
 * what leaves. The addresses follow `ipRemovalPolicy`: kept, they survive the stack or its fixed egress
 * going, so the providers' allowlists stay right. The constructs are children of `scope`.
 */
export function createFixedEgress(
  scope: Construct,
  zones: number,
  ipRemovalPolicy: RemovalPolicy,
): FixedEgress {
  const ips = Array.from({ length: zones }, (_, index) => {
    const ip = new ec2.CfnEIP(scope, `EgressIp${index + 1}`, {});
    ip.applyRemovalPolicy(ipRemovalPolicy);
    return ip;
  });
  const vpc = new ec2.Vpc(scope, 'EgressVpc', {
    maxAzs: zones,
    natGateways: zones,
    natGatewayProvider: ec2.NatProvider.gateway({ eipAllocationIds: ips.map((ip) => ip.attrAllocationId) }),
    subnetConfiguration: [
      { name: 'nat', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 28 },
      { name: 'function', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
    ],
    gatewayEndpoints: { DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB } },
    flowLogs: { Egress: { trafficType: ec2.FlowLogTrafficType.ALL } },
  });
  const functionSecurityGroup = new ec2.SecurityGroup(scope, 'FunctionSecurityGroup', {
    vpc,
    description: 'The token vending function: out to providers through NAT, and to its endpoints',
    allowAllOutbound: true,
  });
  for (const [id, service] of [
    ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
    ['Kms', ec2.InterfaceVpcEndpointAwsService.KMS],
  ] as const) {
    const endpoint = vpc.addInterfaceEndpoint(id, {
      service,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      open: false,
    });
    endpoint.connections.allowFrom(functionSecurityGroup, ec2.Port.tcp(443), 'the token vending function');
  }
  return { vpc, functionSecurityGroup, addresses: ips.map((ip) => ip.attrPublicIp) };
}

/** The findings a function in a VPC brings, with why each is accepted. */
export function acknowledgeVpcFunction(role: Construct, regionalResource: string): void {
  const reason =
    "Lambda creates and deletes a VPC function's network interfaces under its role: they have no ARN before they exist, so the actions are on the role's own region and account (ec2:<region>:<account>:*/*, the Lambda guide's form), and ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets work only on \"*\"; the function's own code is denied all of them (lambda:SourceFunctionArn).";
  acknowledge(role, 'AwsSolutions-IAM5', reason, 'Resource::*');
  acknowledge(role, 'AwsSolutions-IAM5', reason, `Resource::${regionalResource}`);
}
