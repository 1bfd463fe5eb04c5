import { Fn, type RemovalPolicy, Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, DependencyGroup, type IDependable } from 'constructs';
import { acknowledge } from './cdk-nag';

export interface FixedEgress {
  /** The VPC, as the function and the endpoints see it (its subnets by id, zones by `Fn::GetAZs`). */
  readonly vpc: ec2.IVpc;
  /** The function's: all outbound; the interface endpoints admit it, and nothing else, on 443. */
  readonly functionSecurityGroup: ec2.SecurityGroup;
  /** The public addresses provider traffic leaves from, one per zone: what to send a provider's allowlist. */
  readonly addresses: readonly string[];
  /** The private subnets' routes to the NAT gateways: what the function must be created after. */
  readonly internetConnectivity: IDependable;
}

const VPC_CIDR = '10.0.0.0/16';
const SUBNETS = [
  { name: 'nat', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 28, tag: 'Public' },
  { name: 'function', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24, tag: 'Private' },
] as const;

/**
 * A VPC whose private subnets reach the internet only through NAT gateways with Elastic IPs, one per zone:
 * the function placed there has fixed egress addresses. DynamoDB (gateway endpoint), Secrets Manager and KMS
 * (interface endpoints) are reached inside AWS, so only provider traffic leaves through NAT. Flow logs record
 * what leaves, kept as long as `logRetention` says. The addresses follow `ipRemovalPolicy`: kept, they
 * survive the stack or its fixed egress going, so the providers' allowlists stay right. The constructs are
 * children of `scope`.
 *
 * Built from CloudFormation resources rather than `ec2.Vpc`, which asks the stack for its availability
 * zones: with a concrete account that is a context lookup, so synth needed AWS credentials (issue 31). The
 * zones here are the region's first ones by `Fn::GetAZs`, resolved at deploy, as `ec2.Vpc` does in a stack
 * without an account; the resources, their construct paths (so their logical ids), subnet ranges and tags
 * are those `ec2.Vpc` made, so a deployed VPC is updated in place.
 */
export function createFixedEgress(
  scope: Construct,
  zones: number,
  ipRemovalPolicy: RemovalPolicy,
  logRetention: logs.RetentionDays,
): FixedEgress {
  const ips = Array.from({ length: zones }, (_, index) => {
    const ip = new ec2.CfnEIP(scope, `EgressIp${index + 1}`, {});
    ip.applyRemovalPolicy(ipRemovalPolicy);
    return ip;
  });
  const container = new Construct(scope, 'EgressVpc');
  Tags.of(container).add('Name', container.node.path);
  const vpc = new ec2.CfnVPC(container, 'Resource', {
    cidrBlock: VPC_CIDR,
    enableDnsHostnames: true,
    enableDnsSupport: true,
    instanceTenancy: 'default',
  });
  const gateway = new ec2.CfnInternetGateway(container, 'IGW', {});
  const attachment = new ec2.CfnVPCGatewayAttachment(container, 'VPCGW', {
    vpcId: vpc.ref,
    internetGatewayId: gateway.ref,
  });
  const availabilityZones = Array.from({ length: zones }, (_, index) => Fn.select(index, Fn.getAzs()));
  const { allocatedSubnets } = ec2.IpAddresses.cidr(VPC_CIDR).allocateSubnetsCidr({
    vpcCidr: VPC_CIDR,
    requestedSubnets: SUBNETS.flatMap((configuration) =>
      availabilityZones.map((availabilityZone, index) => ({
        availabilityZone,
        subnetConstructId: `${configuration.name}Subnet${index + 1}`,
        configuration,
      })),
    ),
  });
  const subnet = (kind: 0 | 1, index: number) => {
    const configuration = SUBNETS[kind];
    const group = new Construct(container, `${configuration.name}Subnet${index + 1}`);
    Tags.of(group).add('Name', group.node.path);
    const resource = new ec2.CfnSubnet(group, 'Subnet', {
      vpcId: vpc.ref,
      cidrBlock: allocatedSubnets[kind * zones + index]?.cidr as string,
      availabilityZone: availabilityZones[index] as string,
      mapPublicIpOnLaunch: kind === 0,
    });
    Tags.of(resource).add('aws-cdk:subnet-name', configuration.name);
    Tags.of(resource).add('aws-cdk:subnet-type', configuration.tag);
    const routeTable = new ec2.CfnRouteTable(group, 'RouteTable', { vpcId: vpc.ref });
    const association = new ec2.CfnSubnetRouteTableAssociation(group, 'RouteTableAssociation', {
      subnetId: resource.ref,
      routeTableId: routeTable.ref,
    });
    return { group, resource, routeTable, association };
  };
  const connectivity = new DependencyGroup();
  const nat: Array<ReturnType<typeof subnet>> = [];
  const functionSubnets: Array<ReturnType<typeof subnet>> = [];
  for (let index = 0; index < zones; index++) {
    const pub = subnet(0, index);
    const route = new ec2.CfnRoute(pub.group, 'DefaultRoute', {
      routeTableId: pub.routeTable.ref,
      destinationCidrBlock: '0.0.0.0/0',
      gatewayId: gateway.ref,
    });
    route.addResourceDependency(attachment);
    const natGateway = new ec2.CfnNatGateway(pub.group, 'NATGateway', {
      subnetId: pub.resource.ref,
      allocationId: (ips[index] as ec2.CfnEIP).attrAllocationId,
    });
    natGateway.addResourceDependency(route);
    natGateway.addResourceDependency(pub.association);
    nat.push(pub);
    const own = subnet(1, index);
    const egress = new ec2.CfnRoute(own.group, 'DefaultRoute', {
      routeTableId: own.routeTable.ref,
      destinationCidrBlock: '0.0.0.0/0',
      natGatewayId: natGateway.ref,
    });
    connectivity.add(egress, own.association);
    functionSubnets.push(own);
  }
  const subnetsOf = (list: typeof nat) =>
    list.map(({ resource, routeTable }, index) =>
      ec2.Subnet.fromSubnetAttributes(container, `Imported${resource.node.scope?.node.id}`, {
        subnetId: resource.ref,
        routeTableId: routeTable.ref,
        availabilityZone: availabilityZones[index] as string,
      }),
    );
  const privateSubnets = subnetsOf(functionSubnets);
  const publicSubnets = subnetsOf(nat);
  const imported = ec2.Vpc.fromVpcAttributes(container, 'Imported', {
    vpcId: vpc.ref,
    vpcCidrBlock: VPC_CIDR,
    availabilityZones,
    privateSubnetIds: privateSubnets.map((one) => one.subnetId),
    privateSubnetRouteTableIds: privateSubnets.map((one) => one.routeTable.routeTableId),
    publicSubnetIds: publicSubnets.map((one) => one.subnetId),
    publicSubnetRouteTableIds: publicSubnets.map((one) => one.routeTable.routeTableId),
  });
  new ec2.GatewayVpcEndpoint(container, 'DynamoDb', {
    vpc: imported,
    service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
    subnets: [{ subnets: [...privateSubnets, ...publicSubnets] }],
  });
  const flowLog = new ec2.FlowLog(container, 'Egress', {
    resourceType: ec2.FlowLogResourceType.fromVpc(imported),
    trafficType: ec2.FlowLogTrafficType.ALL,
  });
  // The flow log makes its own log group (kept, as before); its retention is the service's.
  const flowLogGroup = flowLog.node.findChild('LogGroup').node.defaultChild as logs.CfnLogGroup;
  flowLogGroup.retentionInDays = logRetention;
  const functionSecurityGroup = new ec2.SecurityGroup(scope, 'FunctionSecurityGroup', {
    vpc: imported,
    description: 'The token vending function: out to providers through NAT, and to its endpoints',
    allowAllOutbound: true,
  });
  for (const [id, service] of [
    ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
    ['Kms', ec2.InterfaceVpcEndpointAwsService.KMS],
  ] as const) {
    const endpoint = new ec2.InterfaceVpcEndpoint(container, id, {
      vpc: imported,
      service,
      subnets: { subnets: privateSubnets },
      open: false,
    });
    endpoint.connections.allowFrom(functionSecurityGroup, ec2.Port.tcp(443), 'the token vending function');
  }
  return {
    vpc: imported,
    functionSecurityGroup,
    addresses: ips.map((ip) => ip.attrPublicIp),
    internetConnectivity: connectivity,
  };
}

/** The findings a function in a VPC brings, with why each is accepted. */
export function acknowledgeVpcFunction(role: Construct, regionalResource: string): void {
  const reason =
    "Lambda creates and deletes a VPC function's network interfaces under its role: they have no ARN before they exist, so the actions are on the role's own region and account (ec2:<region>:<account>:*/*, the Lambda guide's form), and ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets work only on \"*\"; the function's own code is denied all of them (lambda:SourceFunctionArn).";
  acknowledge(role, 'AwsSolutions-IAM5', reason, 'Resource::*');
  acknowledge(role, 'AwsSolutions-IAM5', reason, `Resource::${regionalResource}`);
}
