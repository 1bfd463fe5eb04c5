import { Stack, Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { parseProviderConfig } from '../../../lambda/config/load-providers';
import { providerPath } from '../../../lambda/config/problem-paths';
import type { ProviderConfig } from '../../../lambda/config/provider-schema';
import type { AdmittedPrincipals } from './service-api';
import { isMultiRegion, isMultiRegionKeyArn, regionsProblems } from './service-regions';
import { TokenVendingSettingsError } from './settings-error';
import type { TokenVendingServiceProps } from './token-vending-service';

const ACCOUNT = /^\d{12}$/;
const VPC_ENDPOINT_ID = /^vpce-[0-9a-f]{8,17}$/;
const ENVIRONMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

type Caller = string | { readonly principal: string };

/** The named callers of raw entries, checked without trusting their shape (the schema may refuse it too). */
function namedCallers(providers: readonly unknown[]): Array<{ path: string; arn: string }> {
  return providers.flatMap((provider, index) => {
    const callers = (provider as { callers?: unknown })?.callers;
    if (!Array.isArray(callers)) return [];
    return (callers as Caller[]).flatMap((caller, callerIndex) => {
      const arn = typeof caller === 'string' ? caller : caller?.principal;
      return typeof arn === 'string' && arn !== '*'
        ? [{ path: `${providerPath(providers, index)}.callers[${callerIndex}]`, arn }]
        : [];
    });
  });
}

const isWhole = (value: number, min: number, max: number) =>
  Number.isInteger(value) && value >= min && value <= max;

/** What is wrong with the props besides the entries themselves. */
function settingsProblems(scope: Construct, props: TokenVendingServiceProps): string[] {
  const problems: string[] = [];
  if (typeof props.environment !== 'string' || !ENVIRONMENT_NAME.test(props.environment)) {
    problems.push(
      'environment: must be 1 to 32 letters, digits and dashes (it names the API and the alarms)',
    );
  }
  for (const account of props.allowedAccounts ?? []) {
    if (!ACCOUNT.test(account)) problems.push(`allowedAccounts: "${account}" is not a 12-digit account id`);
  }
  if (props.allowedAccounts) {
    const partition = Stack.of(scope).partition;
    for (const { path, arn } of namedCallers(props.providers)) {
      const [, callerPartition, , , account] = arn.split(':');
      if (account && !props.allowedAccounts.includes(account)) {
        problems.push(
          `${path}: ${arn} is in account ${account}, which allowedAccounts (${props.allowedAccounts.join(', ')}) does not admit`,
        );
      } else if (!Token.isUnresolved(partition) && callerPartition && callerPartition !== partition) {
        problems.push(`${path}: ${arn} is in partition ${callerPartition}, the stack in ${partition}`);
      }
    }
  }
  if (props.runtime !== undefined && props.runtime.family !== lambda.RuntimeFamily.NODEJS) {
    problems.push(
      `runtime: ${props.runtime.name} is not a Node.js runtime (the function's prebuilt bundle is JavaScript for nodejs24.x)`,
    );
  }
  if (props.memorySize !== undefined && !isWhole(props.memorySize, 128, 10_240)) {
    problems.push('memorySize: must be a whole number of MB from 128 to 10240');
  }
  if (
    props.reservedConcurrentExecutions !== undefined &&
    !isWhole(props.reservedConcurrentExecutions, 0, 10_000)
  ) {
    problems.push('reservedConcurrentExecutions: must be a whole number from 0 (no reservation) to 10000');
  }
  if (props.throttling) {
    const { rateLimit, burstLimit } = props.throttling;
    if (!(rateLimit > 0) || !isWhole(burstLimit, 1, 1_000_000) || burstLimit < rateLimit) {
      problems.push('throttling: rateLimit must be above 0, burstLimit a whole number at least rateLimit');
    }
  }
  if (props.egress && !isWhole(props.egress.zones ?? 2, 1, 3)) {
    problems.push('egress.zones: must be 1, 2 or 3 (one NAT gateway and one address per zone)');
  }
  if (props.endpoint?.type === 'private') {
    if (props.endpoint.vpcEndpoints.length === 0) {
      problems.push('endpoint.vpcEndpoints: a private API needs at least one execute-api VPC endpoint');
    }
    for (const endpoint of props.endpoint.vpcEndpoints) {
      if (typeof endpoint === 'string' && !VPC_ENDPOINT_ID.test(endpoint)) {
        problems.push(`endpoint.vpcEndpoints: "${endpoint}" is not a VPC endpoint id (vpce-…)`);
      }
    }
  }
  if (props.alarmEmail !== undefined && !EMAIL.test(props.alarmEmail)) {
    problems.push(`alarmEmail: "${props.alarmEmail}" is not a mail address`);
  }
  if (props.alarmEmail !== undefined && props.alarmTopic) {
    problems.push(
      "alarmEmail: only the stack's own topic is subscribed; with alarmTopic, subscribe it there",
    );
  }
  if (props.tableEncryptionKey && props.tableEncryptionKeyArn) {
    problems.push('tableEncryptionKeyArn: give the table key once, as tableEncryptionKey or by ARN');
  }
  if (
    props.apiGatewayAccountRole !== undefined &&
    props.apiGatewayAccountRole !== 'create' &&
    props.apiGatewayAccountRole !== 'existing'
  ) {
    problems.push('apiGatewayAccountRole: must be "create" or "existing"');
  }
  problems.push(...deploymentRegionProblems(scope, props));
  return problems;
}

/** The signing keys of raw entries, checked without trusting their shape (the schema may refuse it too). */
function signingKeySettings(
  providers: readonly unknown[],
): Array<{ path: string; kms: unknown; key: string | undefined }> {
  return providers.flatMap((provider, index) => {
    const { id, signingKey } = (provider ?? {}) as {
      id?: unknown;
      signingKey?: { kms?: unknown; name?: unknown; next?: { kms?: unknown; name?: unknown } };
    };
    if (!signingKey || typeof signingKey !== 'object') return [];
    const path = `${providerPath(providers, index)}.signingKey`;
    // A created key's `<provider id>/<name>`, as the primary's `signingKeys` holds it.
    const keyOf = (name: unknown) =>
      typeof id === 'string' ? `${id}/${typeof name === 'string' ? name : '1'}` : undefined;
    return [
      { path, kms: signingKey.kms, key: keyOf(signingKey.name) },
      ...(signingKey.next
        ? [{ path: `${path}.next`, kms: signingKey.next.kms, key: keyOf(signingKey.next.name) }]
        : []),
    ];
  });
}

/**
 * Secrets named by ARN must be the primary region's: the other regions read the replica of that ARN in
 * their region, and the primary's function would otherwise read a secret across regions on every cold start
 * (and another region's stack could not tell which of its replicas is meant).
 */
function foreignSecretArnProblems(providers: readonly unknown[], primaryRegion: string): string[] {
  return providers.flatMap((provider, index) => {
    const secretId = (provider as { secretId?: unknown })?.secretId;
    if (typeof secretId !== 'string' || Token.isUnresolved(secretId) || !secretId.startsWith('arn:')) {
      return [];
    }
    const region = secretId.split(':')[3];
    return region === primaryRegion
      ? []
      : [
          `${providerPath(providers, index)}.secretId: ${secretId} is a secret in ${region}; with several regions name the primary region's (${primaryRegion}) secret, replicated to every region, or name it by name`,
        ];
  });
}

/** What a multi-Region deployment (`regions`, `primary`) cannot be, and what it cannot be combined with. */
function deploymentRegionProblems(scope: Construct, props: TokenVendingServiceProps): string[] {
  if (props.regions === undefined) {
    return props.primary ? ['primary: only a multi-Region deployment (regions) has a primary'] : [];
  }
  const listed = regionsProblems(props.regions);
  if (listed.length > 0 || !isMultiRegion(props.regions)) {
    return props.primary && listed.length === 0
      ? [...listed, 'primary: only a multi-Region deployment (regions) has a primary']
      : listed;
  }
  const problems: string[] = [];
  const [primaryRegion] = props.regions;
  const region = Stack.of(scope).region;
  if (Token.isUnresolved(region)) {
    problems.push('regions: every stack of a multi-Region deployment needs an explicit region (env.region)');
  } else if (!props.regions.includes(region)) {
    problems.push(`regions: the stack's region ${region} is not one of ${props.regions.join(', ')}`);
  } else if (region === primaryRegion && props.primary) {
    problems.push(`primary: the stack in ${region} is the primary region's; it takes no primary`);
  } else if (region !== primaryRegion && !props.primary) {
    problems.push(
      `primary: the stack in ${region} needs the primary region's (${primaryRegion}) construct, whose table, key and secrets it replicates`,
    );
  }
  if (props.primary) {
    const primaryStackRegion = Stack.of(props.primary).region;
    if (primaryStackRegion !== primaryRegion) {
      problems.push(
        `primary: its stack is in ${primaryStackRegion}, not the primary region ${primaryRegion}`,
      );
    }
    if (props.primary.regions.join(',') !== props.regions.join(',')) {
      problems.push(`primary: its regions (${props.primary.regions.join(', ')}) are not these`);
    }
    if (props.primary.environment !== props.environment) {
      problems.push(`primary: its environment is ${props.primary.environment}, not ${props.environment}`);
    }
  }
  if (
    props.tableEncryption === 'customer-managed' ||
    props.tableEncryptionKey ||
    props.tableEncryptionKeyArn
  ) {
    problems.push(
      "tableEncryption: a global table's customer-managed key needs a key in every region before the table exists; several regions use the AWS-managed key",
    );
  }
  problems.push(...foreignSecretArnProblems(props.providers, primaryRegion as string));
  for (const { path, kms, key } of signingKeySettings(props.providers)) {
    if (kms === 'create') {
      if (props.primary && key && !props.primary.signingKeys.has(key)) {
        problems.push(
          `${path}: the primary region's service created no signing key ${key} to replicate; give every region the same providers`,
        );
      }
    } else if (typeof kms === 'string' && !isMultiRegionKeyArn(kms)) {
      problems.push(
        `${path}: ${kms} is a single-Region key; with several regions name a multi-Region key (key/mrk-…) replicated to each, or say "create"`,
      );
    }
  }
  return problems;
}

/**
 * The validated entries, or a {@link TokenVendingSettingsError} listing every problem of the entries and
 * the other props at once.
 */
export function validateSettings(scope: Construct, props: TokenVendingServiceProps): ProviderConfig[] {
  const problems: string[] = [];
  let providers: ProviderConfig[] = [];
  try {
    providers = parseProviderConfig({ providers: props.providers });
  } catch (error) {
    const listed = (error as { problems?: readonly string[] }).problems;
    if (!listed) throw error;
    problems.push(...listed);
  }
  problems.push(...settingsProblems(scope, props));
  if (problems.length > 0) throw new TokenVendingSettingsError(scope.node.path, [...new Set(problems)]);
  return providers;
}

export function admittedPrincipals(
  scope: Construct,
  providers: readonly ProviderConfig[],
  allowedAccounts: readonly string[] | undefined,
): AdmittedPrincipals {
  const callers = providers.flatMap((provider) =>
    provider.callers.map((caller) => (typeof caller === 'string' ? caller : caller.principal)),
  );
  const roleArns = [...new Set(callers.filter((caller) => caller !== '*'))].sort();
  const anyCaller = callers.includes('*');
  return { roleArns, accounts: anyCaller ? anyCallerAccounts(scope, allowedAccounts) : [] };
}

/** The accounts a `"*"` caller entry admits: `allowedAccounts` when given, else the stack's own. */
export function anyCallerAccounts(
  scope: Construct,
  allowedAccounts: readonly string[] | undefined,
): string[] {
  return allowedAccounts && allowedAccounts.length > 0 ? [...allowedAccounts] : [Stack.of(scope).account];
}
