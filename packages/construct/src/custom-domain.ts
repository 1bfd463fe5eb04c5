import { Stack, Token } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as route53 from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import { TokenVendingSettingsError } from './settings-error';

/**
 * One name for callers in front of every region's API: a regional API Gateway domain name per region, and
 * a Route 53 alias record per region in the given public hosted zone.
 */
export interface CustomDomain {
  /** The name callers use, e.g. `tvm.example.com`. */
  readonly domainName: string;
  /** The Route 53 public hosted zone holding `domainName`. */
  readonly hostedZoneId: string;
  /** The zone's name, e.g. `example.com`. */
  readonly hostedZoneName: string;
  /**
   * With several regions: `latency` sends each caller to the nearest healthy region (both serve), `failover`
   * to the primary while it is healthy, else to the other (two regions at most). Each region's record has a
   * health check on its `RegionUnavailable` alarm. @default 'latency'
   */
  readonly routing?: 'latency' | 'failover';
  /**
   * ACM certificates for `domainName`, by region (a regional API's certificate must be in its region).
   * @default a certificate per region, validated by DNS in the hosted zone
   */
  readonly certificateArns?: Readonly<Record<string, string>>;
}

export interface CustomDomainProps {
  readonly domain: CustomDomain;
  readonly api: apigateway.RestApi;
  /** The deployment's regions, primary first. @default the stack's region only */
  readonly regions?: readonly string[];
  /** The region's availability alarm, watched by the record's health check (several regions only). */
  readonly availability: cloudwatch.Alarm | undefined;
}

export interface ServiceDomain {
  readonly domainName: apigateway.DomainName;
  readonly record: route53.ARecord;
  readonly healthCheck: route53.HealthCheck | undefined;
}

/** Whether the domain needs per-region routing and health checks: only with several regions. */
export const routesBetweenRegions = (regions: readonly string[] | undefined) => (regions?.length ?? 0) > 1;

/**
 * The region's part of the custom domain: the domain name with its certificate and base path mapping (the
 * whole API at the root, stage included), and its alias record. With several regions the record carries the
 * routing policy and a health check; Route 53 answers with the healthy regions only (all of them, if none
 * is healthy). Constructs are children of `scope`.
 */
export function createCustomDomain(scope: Construct, props: CustomDomainProps): ServiceDomain {
  const { domain } = props;
  const stack = Stack.of(scope);
  const regions = props.regions ?? [];
  const routing = domain.routing ?? 'latency';
  const problems = customDomainProblems(domain, regions, stack.region);
  if (problems.length > 0) throw new TokenVendingSettingsError(scope.node.path, problems);

  const zone = route53.HostedZone.fromHostedZoneAttributes(scope, 'CustomDomainZone', {
    hostedZoneId: domain.hostedZoneId,
    zoneName: domain.hostedZoneName,
  });
  const certificateArn = domain.certificateArns?.[stack.region];
  const certificate = certificateArn
    ? acm.Certificate.fromCertificateArn(scope, 'CustomDomainCertificate', certificateArn)
    : new acm.Certificate(scope, 'CustomDomainCertificate', {
        domainName: domain.domainName,
        validation: acm.CertificateValidation.fromDns(zone),
      });
  const domainName = new apigateway.DomainName(scope, 'CustomDomain', {
    domainName: domain.domainName,
    certificate,
    endpointType: apigateway.EndpointType.REGIONAL,
    securityPolicy: apigateway.SecurityPolicy.TLS_1_2,
    mapping: props.api,
  });

  const several = routesBetweenRegions(regions);
  // Route 53's health checkers cannot call an IAM-authorized API anonymously (every probe would be 403), so
  // the check reads the region's own availability alarm: no public endpoint, and "healthy" means the
  // service answers, not just that the gateway is up.
  const healthCheck =
    several && props.availability
      ? new route53.HealthCheck(scope, 'RegionHealthCheck', {
          type: route53.HealthCheckType.CLOUDWATCH_METRIC,
          alarmIdentifier: { name: props.availability.alarmName, region: stack.region },
          // An alarm CloudWatch cannot evaluate is a region in trouble: prefer the other one.
          insufficientDataHealthStatus: route53.InsufficientDataHealthStatusEnum.UNHEALTHY,
        })
      : undefined;
  const record = new route53.ARecord(scope, 'CustomDomainRecord', {
    zone,
    recordName: domain.domainName,
    target: route53.RecordTarget.fromAlias(regionalDomainTarget(domainName)),
    ...(several
      ? {
          setIdentifier: stack.region,
          ...(healthCheck ? { healthCheck } : {}),
          ...(routing === 'latency'
            ? { region: stack.region }
            : {
                failover: regions[0] === stack.region ? route53.Failover.PRIMARY : route53.Failover.SECONDARY,
              }),
        }
      : {}),
  });
  return { domainName, record, healthCheck };
}

/**
 * The regional domain name as an alias target, evaluating its health (failover records must; for latency
 * records it keeps a region whose gateway itself is down out of the answers too).
 */
function regionalDomainTarget(domainName: apigateway.DomainName): route53.IAliasRecordTarget {
  return {
    bind: () => ({
      dnsName: domainName.domainNameAliasDomainName,
      hostedZoneId: domainName.domainNameAliasHostedZoneId,
      evaluateTargetHealth: true,
    }),
  };
}

/** Two or more labels of letters, digits and inner hyphens, 63 at most each (RFC 1123). */
const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** What is wrong with a custom domain's settings for the stack in `region`: every problem, one line each. */
export function customDomainProblems(
  domain: CustomDomain,
  regions: readonly string[],
  region: string,
): string[] {
  const problems: string[] = [];
  const name = domain.domainName.toLowerCase();
  const zone = domain.hostedZoneName.toLowerCase().replace(/\.$/, '');
  if (!DNS_NAME.test(name) || name.length > 253) {
    problems.push(`customDomain.domainName "${domain.domainName}" is not a DNS name`);
  } else if (name !== zone && !name.endsWith(`.${zone}`)) {
    problems.push(
      `customDomain.domainName "${domain.domainName}" is not in the zone ${domain.hostedZoneName}`,
    );
  }
  if (routesBetweenRegions(regions)) {
    if (Token.isUnresolved(region)) {
      problems.push('customDomain with several regions needs the stack to name its region (env: { region })');
    }
    if ((domain.routing ?? 'latency') === 'failover' && regions.length > 2) {
      problems.push(
        `customDomain.routing "failover" has one primary and one secondary: ${regions.length} regions need "latency"`,
      );
    }
  }
  if (domain.certificateArns && !Token.isUnresolved(region) && !domain.certificateArns[region]) {
    problems.push(`customDomain.certificateArns names no certificate for ${region}`);
  }
  for (const [certificateRegion, arn] of Object.entries(domain.certificateArns ?? {})) {
    if (
      !Token.isUnresolved(arn) &&
      !new RegExp(`^arn:aws[a-z-]*:acm:${certificateRegion}:\\d{12}:certificate/`).test(arn)
    ) {
      problems.push(
        `customDomain.certificateArns.${certificateRegion} is not an ACM certificate of ${certificateRegion}`,
      );
    }
  }
  return problems;
}
