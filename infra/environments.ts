import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ProviderEntryInput } from '../lambda/config/provider-schema';

/** What differs between deployments of the service. */
export interface EnvironmentSettings {
  readonly name: string;
  /** A providers file under `config/providers/`. */
  readonly providersFile: string;
  readonly removalPolicy: RemovalPolicy;
  readonly pointInTimeRecovery: boolean;
  readonly tracing: boolean;
  /** How long the function's and the API's logs (the audit trail) are kept. */
  readonly logRetention: RetentionDays;
  /**
   * Where alarms are mailed: the stack's alarm topic subscribes this address (confirm the mail AWS sends
   * once). Set it here, or with `-c alarmEmail=…`; without one, alarms still notify the topic, for whatever
   * else subscribes to it.
   */
  readonly alarmEmail?: string;
  /**
   * Accounts whose principals the API's resource policy admits. A deploy without `-c allowedAccounts` keeps
   * these: the policy never falls back to the deploying account alone while callers elsewhere depend on it.
   * @default the deploying account
   */
  readonly allowedAccounts?: readonly string[];
  /** Single roles the resource policy admits besides (or instead of) whole accounts. */
  readonly allowedPrincipals?: readonly string[];
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
  /**
   * `false`: the providers' secrets exist already (made by another stack or by hand), named by the entries'
   * `secretId` (a name or a complete ARN); the stack references them instead of creating placeholders.
   * @default true
   */
  readonly createSecrets?: boolean;
}

/**
 * Chosen with `cdk deploy -c env=<name>`. The sandbox holds the providers' test environments and may be torn
 * down whole; production keeps its table and secrets when the stack goes.
 */
export const ENVIRONMENTS: Readonly<Record<string, EnvironmentSettings>> = {
  sandbox: {
    name: 'sandbox',
    providersFile: 'sandbox.json',
    removalPolicy: RemovalPolicy.DESTROY,
    pointInTimeRecovery: false,
    tracing: false,
    logRetention: RetentionDays.TWO_WEEKS,
  },
  production: {
    name: 'production',
    providersFile: 'production.json',
    removalPolicy: RemovalPolicy.RETAIN,
    pointInTimeRecovery: true,
    tracing: true,
    // An audit trail is kept long enough to answer "who had this token" well after the fact.
    logRetention: RetentionDays.ONE_YEAR,
  },
};

export function environmentNamed(name: string): EnvironmentSettings {
  const settings = ENVIRONMENTS[name];
  if (!settings) {
    throw new Error(`unknown environment "${name}"; use -c env=${Object.keys(ENVIRONMENTS).join('|')}`);
  }
  return settings;
}

/** The environment's provider entries, unchecked: the construct validates them at synth. */
export function readProvidersFile(settings: EnvironmentSettings): ProviderEntryInput[] {
  const path = join(__dirname, '..', 'config', 'providers', settings.providersFile);
  const document = JSON.parse(readFileSync(path, 'utf8')) as { providers?: ProviderEntryInput[] };
  return document.providers ?? [];
}
