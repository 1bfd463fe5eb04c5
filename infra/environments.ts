import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  type ApiGatewayAccountRole,
  type CustomDomain,
  type ProviderEntry,
  regionsProblems,
} from 'token-vending-construct';

/**
 * What differs between deployments of the service: everything an operator sets per environment. A deploy
 * without flags deploys exactly this; `-c` overrides are refused where `allowOverrides` is not set
 * (production).
 */
export interface EnvironmentSettings {
  readonly name: string;
  /**
   * The regions to run in, the primary first: one whole service per region (`TokenVending-<env>` in the
   * primary, `TokenVending-<env>-<region>` in the others) over one global table, a multi-Region sealing key
   * and replicated secrets. One region deploys there as a single-Region stack.
   * @default one stack in the CLI's region (CDK_DEFAULT_REGION)
   */
  readonly regions?: readonly string[];
  /**
   * The providers file: a name under `config/providers/`, or an absolute path (a file kept outside this
   * repository, e.g. in the operators' own configuration repository). Its entries' `callers` are whom the
   * API admits.
   */
  readonly providersFile: string;
  readonly removalPolicy: RemovalPolicy;
  readonly pointInTimeRecovery: boolean;
  readonly tracing: boolean;
  /** How long the function's and the API's logs (the audit trail) are kept. */
  readonly logRetention: RetentionDays;
  /** `-c alarmEmail=…`, `-c egress=fixed`, `-c allowedAccounts=…` may change this environment for one deploy. */
  readonly allowOverrides?: boolean;
  /**
   * Where alarms are mailed: the stack's alarm topic subscribes this address (confirm the mail AWS sends
   * once). Without one, alarms still notify the topic (stack output `AlarmTopicArn`).
   */
  readonly alarmEmail?: string;
  /**
   * Accounts callers may be in: a caller outside them fails synth, and a `"*"` caller admits these whole
   * accounts. @default named callers from any account; `"*"` admits the deploying account
   */
  readonly allowedAccounts?: readonly string[];
  /** Stage throttling. @default 100 requests/s, bursts of 200 */
  readonly throttling?: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * `fixed`: the function runs in private subnets behind NAT gateways with Elastic IPs, so providers that
   * allowlist callers by IP address can be told its addresses (stack output `EgressIps`). Costs NAT hours.
   * @default 'default' (no VPC)
   */
  readonly egress?: 'default' | 'fixed';
  /** Availability zones (and so NAT gateways and addresses) for fixed egress. @default 2 */
  readonly egressZones?: number;
  /**
   * The egress addresses are retained with the environment's RETAIN removal policy, even when `egress` is
   * removed; `true` lets CloudFormation release them (deploy it once before removing `egress`).
   * @default false
   */
  readonly releaseEgressIps?: boolean;
  /** A private API, reachable only through these interface VPC endpoints (`vpce-…`, service execute-api). */
  readonly privateEndpoint?: { readonly vpcEndpointIds: readonly string[] };
  /** Function memory, MB. @default 512 */
  readonly memorySize?: number;
  /**
   * Executions reserved for the function, and the most it may run at once. An account keeps at least 10
   * unreserved: in an account whose concurrency limit is still the new-account 10, set this to 0 to skip
   * the reservation, or ask AWS for a higher limit first. @default 100
   */
  readonly reservedConcurrency?: number;
  /** A role that may read the providers' secrets besides the function, and change the keys' and secrets' policies. */
  readonly breakGlassRoleArn?: string;
  /**
   * The role CloudFormation deploys with, if not the CDK bootstrap's execution role (`cdk deploy --role-arn`
   * or another synthesizer): only it and the break-glass role may change the keys' and secrets' policies.
   */
  readonly deployRoleArn?: string;
  /** `customer-managed`: the stack creates the table's key, usable only by the function. @default 'aws-managed' */
  readonly tableEncryption?: 'aws-managed' | 'customer-managed';
  /** An existing customer-managed key for the table, by ARN (its policy must let the function use it). */
  readonly tableEncryptionKeyArn?: string;
  /**
   * `false`: the providers' secrets exist already (made by another stack or by hand), named by the entries'
   * `secretId` (a name or a complete ARN); the stack references them instead of creating placeholders.
   * @default true
   */
  readonly createSecrets?: boolean;
  /**
   * Which stack creates API Gateway's account-level CloudWatch role (one per account and region). Production
   * creates it; the sandbox, expected in the same account, uses it. A sandbox in an account of its own says
   * `create`. @default 'create'
   */
  readonly apiGatewayAccountRole?: ApiGatewayAccountRole;
  /**
   * One name for callers in front of every region's API (`domainName` in the Route 53 zone `hostedZoneId`/
   * `hostedZoneName`; `routing` `latency` or `failover`; `certificateArns` by region, else DNS-validated
   * certificates). Callers of one name sign for the region that answers: docs/api.md. @default none
   */
  readonly customDomain?: CustomDomain;
}

/**
 * Chosen with `cdk deploy -c env=<name>`. The sandbox holds the providers' test environments and may be torn
 * down whole; production keeps its table, secrets and egress addresses when the stack goes.
 */
export const ENVIRONMENTS: Readonly<Record<string, EnvironmentSettings>> = {
  sandbox: {
    name: 'sandbox',
    providersFile: 'sandbox.json',
    removalPolicy: RemovalPolicy.DESTROY,
    pointInTimeRecovery: false,
    tracing: false,
    logRetention: RetentionDays.TWO_WEEKS,
    allowOverrides: true,
    apiGatewayAccountRole: 'existing',
  },
  production: {
    name: 'production',
    providersFile: 'production.json',
    removalPolicy: RemovalPolicy.RETAIN,
    pointInTimeRecovery: true,
    tracing: true,
    // An audit trail is kept long enough to answer "who had this token" well after the fact.
    logRetention: RetentionDays.ONE_YEAR,
    // A region's outage must not take every outbound integration with it (issue 24): two regions, active-active.
    regions: ['eu-north-1', 'eu-west-1'],
    // Norsk Gjeldsinformasjon asks integrators to call from fixed addresses (docs/providers/norsk-gjeld.md).
    egress: 'fixed',
    egressZones: 2,
    apiGatewayAccountRole: 'create',
  },
};

export function environmentNamed(name: string): EnvironmentSettings {
  const settings = ENVIRONMENTS[name];
  if (!settings) {
    throw new SettingsError(
      `unknown environment "${name}"; use -c env=${Object.keys(ENVIRONMENTS).join('|')}`,
    );
  }
  deploymentRegions(settings);
  return settings;
}

/**
 * The environment's regions, the primary first, or undefined for one stack in the CLI's region. A
 * SettingsError names every problem: a list that is empty, names a region twice, or holds a name that is
 * no region's.
 */
export function deploymentRegions(settings: EnvironmentSettings): readonly string[] | undefined {
  if (settings.regions === undefined) return undefined;
  const problems = regionsProblems(settings.regions);
  if (problems.length > 0) {
    throw new SettingsError(`the settings of ${settings.name}: ${problems.join('; ')}`);
  }
  return settings.regions;
}

/** A settings problem an operator fixes from one line: the app prints it without a stack trace. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

/** Where the environment's providers file is: absolute as given, or under `config/providers/`. */
export function providersFilePath(settings: EnvironmentSettings): string {
  return isAbsolute(settings.providersFile)
    ? settings.providersFile
    : join(__dirname, '..', 'config', 'providers', settings.providersFile);
}

/** The environment's provider entries, unchecked: the construct validates them at synth. */
export function readProvidersFile(settings: EnvironmentSettings): ProviderEntry[] {
  const path = providersFilePath(settings);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SettingsError(
      `cannot read the providers file of ${settings.name} (${path}): ${(error as NodeJS.ErrnoException).code}`,
    );
  }
  try {
    const document = JSON.parse(text) as { providers?: ProviderEntry[] };
    return document.providers ?? [];
  } catch {
    throw new SettingsError(`the providers file of ${settings.name} (${path}) is not valid JSON`);
  }
}
