import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct, type IConstruct } from 'constructs';
import { grantVend } from 'token-vending-grant-vend';
import type { ProviderConfig } from '../../../lambda/config/provider-schema';
import { acknowledge } from './cdk-nag';
import {
  type CustomDomain,
  createCustomDomain,
  routesBetweenRegions,
  type ServiceDomain,
} from './custom-domain';
import { deployRoleArn } from './deploy-role';
import { functionCode } from './function-code';
import { ANY_CALLER_ACCOUNTS_ENVIRONMENT, TOKEN_TABLE } from './function-contract';
import { createFunctionRoles } from './function-roles';
import { sealingKeyPolicy, tableKeyPolicy } from './key-policies';
import type { ProviderEntry } from './provider-entry';
import { createRenewalQueue, type RenewalQueueResources } from './refresh-queue';
import { createRefreshSchedule } from './refresh-schedule';
import { createProbeRole, createRegionProbe } from './region-probe';
import {
  createGlobalTable,
  createMultiRegionSealingKey,
  createSealingKeyReplica,
  type RegionalPlacement,
  regionalReplicaOfTable,
  SEALING_KEY_DESCRIPTION,
  SECRET_REPLICATION_ACTIONS,
} from './regional-state';
import { COUNTER_KEY_VALUE_ACTIONS, restrictSecret } from './secret-policies';
import { type ApiEndpoint, createServiceApi } from './service-api';
import { createFixedEgress } from './service-egress';
import { createServiceMonitoring } from './service-monitoring';
import { counterKeySecretName, inRegion, isMultiRegion } from './service-regions';
import { admittedPrincipals, anyCallerAccounts, validateSettings } from './settings-validation';
import { createSigningKeys } from './signing-keys';

export type { CustomDomain, ServiceDomain } from './custom-domain';
export type { ApiEndpoint } from './service-api';

/**
 * Who owns API Gateway's account-level CloudWatch role (`AWS::ApiGateway::Account`), which is one setting per
 * account and region: `create` makes it in this stack, `existing` relies on one another stack (or the
 * account's baseline) made. Exactly one stack per account and region should say `create`.
 */
export type ApiGatewayAccountRole = 'create' | 'existing';

export interface TokenVendingServiceProps {
  /**
   * The environment's name (`sandbox`, `production`…): part of the API's name and of every alarm's name, so
   * two deployments in one account tell their notifications apart.
   */
  readonly environment: string;
  /**
   * Provider entries as a providers file holds them. Validated at synth with every problem listed at once;
   * their `callers` are the principals the API's resource policy admits.
   */
  readonly providers: readonly ProviderEntry[];
  /**
   * Accounts callers may be in. A named caller outside them fails synth; a `"*"` caller admits these whole
   * accounts (each principal still needs its own IAM permission, `grantVend`).
   * @default named callers in any account; `"*"` admits the stack's own account
   */
  readonly allowedAccounts?: readonly string[];
  /**
   * `regional`, or `private`: reachable only through the given interface VPC endpoints (service
   * `execute-api`), as constructs or as endpoint ids (`vpce-…`).
   * @default { type: 'regional' }
   */
  readonly endpoint?: ApiEndpoint;
  /**
   * Create one Secrets Manager secret per provider (holding a random placeholder until an operator puts the
   * real value), or reference existing secrets by the entries' `secretId` (a name or a complete ARN). With
   * several regions an existing secret must be replicated to every region, its policy must admit every
   * region's function role, and an ARN must be the primary region's (docs/operations.md).
   * @default true
   */
  readonly createSecrets?: boolean;
  /**
   * Encrypt the table with this customer-managed key instead of an AWS-managed one. Its policy is its
   * owner's: `docs/operations.md` ("Who can do what") says what it should allow.
   * @default none (see `tableEncryption`)
   */
  readonly tableEncryptionKey?: kms.IKey;
  /** The same as `tableEncryptionKey`, by ARN, for settings files. @default none */
  readonly tableEncryptionKeyArn?: string;
  /**
   * `customer-managed`: the service creates the table's key (`TableKey`), which only the function role may
   * use, and only through DynamoDB; so a principal allowed `dynamodb:GetItem` by IAM still reads nothing.
   * Ignored when a table key is given. @default 'aws-managed'
   */
  readonly tableEncryption?: 'aws-managed' | 'customer-managed';
  /**
   * The role CloudFormation deploys the stack with: the key and secret policies let only it (and the
   * break-glass role) change them, or delete a secret.
   * @default the CDK bootstrap's execution role, as the stack's synthesizer names it
   */
  readonly deployRoleArn?: string;
  /** @default true */
  readonly pointInTimeRecovery?: boolean;
  /** What happens to the table, keys, secrets, logs and egress addresses when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The function's Lambda runtime, a Node.js one. The prebuilt bundle targets Node.js 24 and is tested
   * there; a newer runtime that an aws-cdk-lib release adds is adopted by a release of this construct that
   * tests it (or by passing it here), not by whichever aws-cdk-lib the app installs: cdk-nag's
   * AwsSolutions-L1 ("not the latest runtime") is acknowledged for that reason.
   * @default lambda.Runtime.NODEJS_24_X
   */
  readonly runtime?: lambda.Runtime;
  /** MB, 128 to 10240. @default 512 (RSA signing for private_key_jwt and TLS both want CPU, which scales with memory) */
  readonly memorySize?: number;
  /**
   * Caps the function's concurrency, and so the load it can put on the table and the providers; 0 reserves
   * nothing (an account whose concurrency limit leaves no room). @default 100
   */
  readonly reservedConcurrentExecutions?: number;
  /** X-Ray tracing for the function and the API stage. @default false */
  readonly tracing?: boolean;
  /** How long the function's and the API's logs (the audit trail) are kept. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Stage throttling. @default { rateLimit: 100, burstLimit: 200 } */
  readonly throttling?: { readonly rateLimit: number; readonly burstLimit: number };
  /** @default 'live' */
  readonly stageName?: string;
  /** Where every alarm notifies. @default a topic the stack creates (encrypted) */
  readonly alarmTopic?: sns.ITopic;
  /** An address the stack's own alarm topic mails (confirm the subscription mail once). @default none */
  readonly alarmEmail?: string;
  /**
   * A role that may read the providers' secrets besides the function (an operator's break-glass role), and
   * change the keys' and secrets' policies besides the deploying role. The secrets' resource policies deny
   * every other principal, whatever its IAM policies say.
   * @default none
   */
  readonly breakGlassRoleArn?: string;
  /**
   * `fixed`: the function in private subnets behind NAT gateways with Elastic IPs (one per zone, 1 to 3), for
   * providers that allowlist callers by address. The addresses follow `removalPolicy` (kept, with RETAIN,
   * when the stack or its fixed egress goes). @default no VPC
   */
  readonly egress?: { readonly type: 'fixed'; readonly zones?: number };
  /**
   * Let CloudFormation release the egress addresses when they leave the template, whatever `removalPolicy`
   * says: deploy this once before removing `egress`, when the providers' allowlists no longer need them.
   * @default false
   */
  readonly releaseEgressIps?: boolean;
  /** Which stack owns API Gateway's account-level logging role. @default 'create' */
  readonly apiGatewayAccountRole?: ApiGatewayAccountRole;
  /**
   * The regions of a multi-Region deployment, the primary first: one stack per region, each holding one
   * `TokenVendingService` with the same `regions` (the stack's region one of them, given explicitly), and
   * `crossRegionReferences: true` on every stack. The primary region's construct creates the global table
   * (a replica per other region), the multi-Region sealing key and the secrets with replicas; every other
   * region's construct names its `primary` and uses its own region's replicas. One region (or none) is a
   * single-Region deployment, exactly as without.
   * @default the stack's region alone
   */
  readonly regions?: readonly string[];
  /** The primary region's construct in the same app: required in every other region's stack, and only there. */
  readonly primary?: TokenVendingService;
  /**
   * One name for callers (a regional domain name, certificate and Route 53 alias record per region; with
   * several regions, latency or failover routing with a health check on each region's availability alarm).
   * SigV4 stays scoped to the region that answers: see docs/api.md ("One name for several regions").
   * @default none: callers use the regional execute-api URLs
   */
  readonly customDomain?: CustomDomain;
}

/** The runtime the prebuilt bundle is built for and tested on. */
export const DEFAULT_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** Executions reserved for (and the most allowed to) the function, unless the props say otherwise. */
export const DEFAULT_RESERVED_CONCURRENCY = 100;

/** The props with every default applied, worked out once. */
function withDefaults(props: TokenVendingServiceProps) {
  return {
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    stageName: props.stageName ?? 'live',
    logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    tracing: props.tracing ?? false,
    throttling: props.throttling ?? { rateLimit: 100, burstLimit: 200 },
    endpoint: props.endpoint ?? ({ type: 'regional' } as const),
    apiGatewayAccountRole: props.apiGatewayAccountRole ?? 'create',
  };
}

/**
 * The token vending service: an IAM-authorized REST API, the vend function, its DynamoDB token cache, one
 * Secrets Manager secret per provider, logs, alarms and a dashboard. Secure by default: every method needs
 * SigV4, the resource policy admits only the configured accounts, the function may read exactly the
 * providers' secrets and use exactly its table.
 */
export class TokenVendingService extends Construct {
  public readonly api: apigateway.RestApi;
  public readonly function: lambda.Function;
  /** Invokes the function once a minute to renew the keys in use off the request path. */
  public readonly refreshSchedule: events.Rule;
  /** Where the scheduled run hands the renewals due, and its dead letters. */
  public readonly renewalQueue: RenewalQueueResources;
  /**
   * The token table: the region's own replica of the global table with several regions (a `TableV2` in the
   * primary region, referenced by name in the others).
   */
  public readonly table: dynamodb.ITable;
  /**
   * Seals the tokens the function stores in the table; only the function's role may use it. With several
   * regions: the multi-Region key in the primary region, its replica (`SealingKeyReplica`) elsewhere.
   */
  public readonly sealingKey: kms.IKey;
  /** The table's key, when the service created it (`tableEncryption: 'customer-managed'`). */
  public readonly tableKey: kms.Key | undefined;
  /** The HMAC key that names callers in the table's budget counters; only the function's role may read it. */
  public readonly counterKey: secretsmanager.ISecret;
  /**
   * The signing keys the service created for `signingKey: {"kms": "create"}` entries, by `<provider>/<name>`:
   * with several regions, multi-Region keys in the primary region and their replicas in the others.
   */
  public readonly signingKeys: ReadonlyMap<string, kms.IKey>;
  public readonly secrets: ReadonlyMap<string, secretsmanager.ISecret>;
  /** The validated entries, defaults applied. */
  public readonly providers: readonly ProviderEntry[];
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly alarms: readonly cloudwatch.Alarm[];
  /** Every alarm notifies this topic. */
  public readonly alarmTopic: sns.ITopic;
  /** The addresses provider traffic leaves from, with fixed egress. */
  public readonly egressAddresses: readonly string[];
  /** The deployment's regions, the primary first; empty for a single-Region deployment. */
  public readonly regions: readonly string[];
  /** The environment's name, as given. */
  public readonly environment: string;
  /** This region's part of the custom domain, when one is set. */
  public readonly customDomain: ServiceDomain | undefined;
  /** The other regions' function roles, which the primary region's construct makes (none elsewhere). */
  private readonly otherRegionsRoles: ReadonlyMap<string, iam.IRole>;

  constructor(scope: Construct, id: string, props: TokenVendingServiceProps) {
    super(scope, id);
    const providers = validateSettings(this, props);
    this.providers = providers;
    this.environment = props.environment;
    const settings = withDefaults(props);
    const { removalPolicy } = settings;
    const placement = regionalPlacement(this, props);
    this.regions = placement?.regions ?? [];
    // The function reads its secrets and signing keys from its bundled entries: in another region, the
    // replicas' ARNs (a name already finds the region's own replica).
    const regionalProviders =
      placement?.isPrimary === false ? providersIn(providers, placement.region) : providers;

    const roles = createFunctionRoles(
      this,
      props.environment,
      placement,
      placement && !placement.isPrimary ? props.primary?.functionRoleFor(placement.region) : undefined,
      props.egress?.type === 'fixed',
    );
    const role = roles.own;
    this.otherRegionsRoles = roles.others;
    const deployer = deployRoleArn(this, props.deployRoleArn);
    const policyAdmins = [deployer, ...(props.breakGlassRoleArn ? [props.breakGlassRoleArn] : [])];
    const policyRoles = { functionRoleArn: role.roleArn, policyAdminArns: policyAdmins };
    // A replicated secret carries the primary's resource policy into every region: it names every region's
    // function role, each made by this (the primary's) stack, so each exists as long as the policy does.
    const secretReaders = [role.roleArn, ...[...roles.others.values()].map((other) => other.roleArn)];
    const secretReservedActions = placement ? [...SECRET_REPLICATION_ACTIONS] : [];

    this.tableKey =
      !props.tableEncryptionKey &&
      !props.tableEncryptionKeyArn &&
      props.tableEncryption === 'customer-managed'
        ? new kms.Key(this, 'TableKey', {
            description:
              "Encrypts the token vending service's table; only the function uses it, through DynamoDB",
            enableKeyRotation: true,
            removalPolicy,
            policy: tableKeyPolicy(this, policyRoles),
          })
        : undefined;
    const tableKey =
      props.tableEncryptionKey ??
      (props.tableEncryptionKeyArn
        ? kms.Key.fromKeyArn(this, 'ImportedTableKey', props.tableEncryptionKeyArn)
        : undefined) ??
      this.tableKey;
    this.table = placement
      ? placement.isPrimary
        ? createGlobalTable(
            this,
            props.environment,
            placement,
            props.pointInTimeRecovery ?? true,
            removalPolicy,
          )
        : regionalReplicaOfTable(this, props.environment)
      : new dynamodb.Table(this, 'TokenTable', {
          partitionKey: { name: TOKEN_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
          billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
          timeToLiveAttribute: TOKEN_TABLE.ttlAttribute,
          ...(tableKey
            ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: tableKey }
            : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
          removalPolicy,
        });
    if (props.pointInTimeRecovery === false) {
      acknowledge(
        this.table,
        'AwsSolutions-DDB3',
        'The table is a cache of tokens the providers can reissue; PITR is off by choice here.',
      );
    }

    this.secrets = new Map(
      providers.map((provider) => [
        provider.secretId,
        this.secretFor(provider, props, removalPolicy, placement),
      ]),
    );

    const logGroup = new logs.LogGroup(this, 'FunctionLogs', {
      retention: settings.logRetention,
      removalPolicy,
    });
    logGroup.grantWrite(role);
    this.sealingKey = !placement
      ? new kms.Key(this, 'TokenSealingKey', {
          description: SEALING_KEY_DESCRIPTION,
          enableKeyRotation: true,
          removalPolicy,
          policy: sealingKeyPolicy(this, policyRoles),
        })
      : placement.isPrimary || !props.primary
        ? createMultiRegionSealingKey(this, policyRoles, removalPolicy)
        : createSealingKeyReplica(this, props.primary.sealingKey, policyRoles, deployer, removalPolicy);
    this.counterKey =
      placement && !placement.isPrimary
        ? secretsmanager.Secret.fromSecretNameV2(
            this,
            'CallerCounterKey',
            counterKeySecretName(props.environment),
          )
        : this.createCounterKey(removalPolicy, placement, props.environment);

    const egress =
      props.egress?.type === 'fixed'
        ? createFixedEgress(
            this,
            props.egress.zones ?? 2,
            props.releaseEgressIps ? RemovalPolicy.DESTROY : removalPolicy,
            settings.logRetention,
          )
        : undefined;
    this.egressAddresses = egress?.addresses ?? [];
    this.function = new lambda.Function(this, 'VendFunction', {
      ...(egress
        ? {
            vpc: egress.vpc,
            vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
            securityGroups: [egress.functionSecurityGroup],
          }
        : {}),
      code: functionCode(regionalProviders),
      handler: 'index.handler',
      runtime: props.runtime ?? DEFAULT_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      // At worst a vend waits 12 s for a dead lease holder, then makes its own grant in 10 s: 28 s stays
      // inside API Gateway's 29 s, so callers always get the service's own answer.
      timeout: Duration.seconds(28),
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: settings.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      // A slow provider at the stage's 100 rps and a 28 s timeout could hold 2,800 executions, more than an
      // account's default limit: the function's own share is capped, and other functions keep theirs.
      // 0 means no reservation (an account whose limit leaves no room for one).
      ...((props.reservedConcurrentExecutions ?? DEFAULT_RESERVED_CONCURRENCY) > 0
        ? { reservedConcurrentExecutions: props.reservedConcurrentExecutions ?? DEFAULT_RESERVED_CONCURRENCY }
        : {}),
      environment: {
        TVM_TABLE: this.table.tableName,
        TVM_SEALING_KEY_ID: this.sealingKey.keyArn,
        // The ARN, never the value: the function reads the key from Secrets Manager once per container.
        TVM_COUNTER_KEY_SECRET_ARN: this.counterKey.secretArn,
        POWERTOOLS_SERVICE_NAME: 'token-vending',
        NODE_OPTIONS: '--enable-source-maps',
        ...(placement ? { TVM_REGIONS: placement.regions.join(',') } : {}),
      },
    });
    acknowledge(
      this.function,
      'AwsSolutions-L1',
      "The runtime is the construct's to state (prop `runtime`, default nodejs24.x, the Node.js its prebuilt bundle is built and tested for): an aws-cdk-lib that knows a newer Node.js runtime does not make this bundle tested on it.",
    );
    // Created once the private subnets route to their NAT gateways, as with any VPC function.
    if (egress) this.function.node.addDependency(egress.internetConnectivity);
    const signing = createSigningKeys(
      this,
      regionalProviders,
      policyRoles,
      role,
      removalPolicy,
      props.environment,
      !placement
        ? { kind: 'single' }
        : placement.isPrimary || !props.primary
          ? { kind: 'primary' }
          : { kind: 'replica', primaryKeys: props.primary.signingKeys, deployer },
    );
    this.signingKeys = signing.created;
    if (signing.environment) this.function.addEnvironment('TVM_SIGNING_KEYS', signing.environment);
    // The function admits a "*" entry's callers from these accounts alone: the API's resource policy admits
    // every named caller of every provider, so it cannot keep another account's caller off a "*" provider.
    this.function.addEnvironment(
      ANY_CALLER_ACCOUNTS_ENVIRONMENT,
      anyCallerAccounts(this, props.allowedAccounts).join(','),
    );
    if (settings.tracing) {
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        'X-Ray trace submission does not support resource-level permissions.',
        'Resource::*',
      );
    }

    // Exactly what the function does with its table: read an item, and (conditional UpdateItem) take a
    // lease, write a token and give the lease back, evict a token, count a budget, mark a key in use; the
    // refresher reads the index buckets due now in one BatchGetItem. Nothing is deleted, nothing scanned.
    this.table.grant(this.function, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:BatchGetItem');
    this.refreshSchedule = createRefreshSchedule(this, this.function);
    this.renewalQueue = createRenewalQueue(this, this.function);
    // A customer-managed table key must let the function use the table at all, or every call fails. The
    // service's own table key names the function in its policy instead.
    if (tableKey && tableKey !== this.tableKey) tableKey.grantEncryptDecrypt(this.function);
    for (const secret of this.secrets.values()) {
      secret.grantRead(this.function);
      // Only the function (and the break-glass role) may read a secret, whatever other IAM policies say, and
      // only the deploying and break-glass roles may lift that. Writing the value stays with the operators.
      // A replica's policy is its primary's (in the primary region's stack): an imported secret takes none.
      restrictSecret(
        secret,
        [...secretReaders, ...(props.breakGlassRoleArn ? [props.breakGlassRoleArn] : [])],
        policyAdmins,
        secretReservedActions,
      );
    }
    this.counterKey.grantRead(this.function);
    // Nobody but the function reads the counter key, break-glass included: no operator task needs it. Its
    // value is never written by hand either: a known value would let a table reader name callers again.
    restrictSecret(this.counterKey, secretReaders, policyAdmins, [
      ...COUNTER_KEY_VALUE_ACTIONS,
      ...secretReservedActions,
    ]);

    // A custom domain over several regions routes on each region's availability alarm, which the probe keeps
    // fed when DNS has moved every caller away; without one, nothing reads that alarm and nothing is probed.
    const routed = props.customDomain !== undefined && routesBetweenRegions(props.regions);
    const probeRole = routed ? createProbeRole(this) : undefined;
    this.api = createServiceApi(this, {
      ...settings,
      handler: this.function,
      environment: props.environment,
      principals: admittedPrincipals(this, providers, props.allowedAccounts),
      ...(probeRole ? { probeRoleArn: probeRole.roleArn } : {}),
    });
    if (probeRole) createRegionProbe(this, this.api, probeRole);
    const monitoring = createServiceMonitoring(this, {
      handler: this.function,
      api: this.api,
      functionLogs: logGroup,
      providers,
      environment: props.environment,
      ...(props.alarmTopic ? { alarmTopic: props.alarmTopic } : {}),
      ...(props.alarmEmail ? { alarmEmail: props.alarmEmail } : {}),
      tableName: this.table.tableName,
      ...(props.regions ? { regions: props.regions } : {}),
      availabilityAlarm: routed,
      renewalQueue: this.renewalQueue,
    });
    this.customDomain = props.customDomain
      ? createCustomDomain(this, {
          domain: props.customDomain,
          api: this.api,
          availability: monitoring.availability,
          ...(props.regions ? { regions: props.regions } : {}),
        })
      : undefined;
    this.alarmTopic = monitoring.topic;
    this.alarms = monitoring.alarms;
    this.dashboard = monitoring.dashboard;
  }

  /**
   * The function role of `region`'s service: this construct's own, or, in the primary region's construct,
   * the role it made for another region (the other region's construct imports it, and adds its grants).
   */
  public functionRoleFor(region: string): iam.IRole {
    const own = this.function.role;
    if (own && (region === Stack.of(this).region || this.regions.length === 0)) return own;
    const other = this.otherRegionsRoles.get(region);
    if (!other) throw new Error(`functionRoleFor: ${this.node.path} makes no function role for ${region}`);
    return other;
  }

  /**
   * Lets `grantee` vend from one provider: `execute-api:Invoke` on exactly that provider's POST and DELETE
   * and on `GET /v1/providers`, of this API and of the `otherRegions`' (the same deployment's services in
   * the other regional stacks of this app), in one statement. A grantee's stack in another region than a
   * service it names needs `crossRegionReferences: true` (CDK carries the API's id over); outside this app,
   * use `grantVend` of `token-vending-grant-vend` with `{ environment, regions }`.
   */
  public grantVend(
    grantee: iam.IGrantable & IConstruct,
    providerId: string,
    otherRegions: readonly TokenVendingService[] = [],
  ): iam.Grant {
    const services = [this, ...otherRegions];
    for (const service of services) {
      if (!service.providers.some((provider) => provider.id === providerId)) {
        throw new Error(`grantVend: no provider "${providerId}" in ${service.node.path}`);
      }
    }
    return grantVend(
      grantee,
      services.map((service) => ({
        restApiId: service.api.restApiId,
        stageName: service.api.deploymentStage.stageName,
        account: Stack.of(service).account,
        region: Stack.of(service).region,
      })),
      providerId,
    );
  }

  /**
   * The key of the HMAC that names callers in the table's budget counters, so a table reader cannot match
   * counters to candidate role ARNs. Secrets Manager generates it at deploy: its value is in no template.
   */
  private createCounterKey(
    removalPolicy: RemovalPolicy,
    placement: RegionalPlacement | undefined,
    environment: string,
  ): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, 'CallerCounterKey', {
      description: "HMAC-SHA256 key naming callers in the token vending table's budget counters",
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy,
      // One key for every region, so a counter item replicated from another region names the same caller.
      ...(placement
        ? { secretName: counterKeySecretName(environment), replicaRegions: replicaRegionsOf(placement) }
        : {}),
    });
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'Rotating the counter key would only restart at most a minute of budget counters, so it could be allowed, but a rotation function is not worth that; if the key is ever exposed, the break-glass role puts a new random value (docs/operations.md).',
    );
    return secret;
  }

  private secretFor(
    provider: ProviderConfig,
    props: TokenVendingServiceProps,
    removalPolicy: RemovalPolicy,
    placement: RegionalPlacement | undefined,
  ): secretsmanager.ISecret {
    const id = `Secret-${provider.id}`;
    if (props.createSecrets === false || placement?.isPrimary === false) {
      // Another region reads its own replica: the same name, or the same ARN but for the region.
      const secretId = placement ? inRegion(provider.secretId, placement.region) : provider.secretId;
      return secretId.startsWith('arn:')
        ? secretsmanager.Secret.fromSecretCompleteArn(this, id, secretId)
        : secretsmanager.Secret.fromSecretNameV2(this, id, secretId);
    }
    const secret = new secretsmanager.Secret(this, id, {
      secretName: provider.secretId,
      description: `OAuth client credentials for provider ${provider.id}: {"client_id","client_secret"} or {"client_id","private_key","key_id"}`,
      removalPolicy,
      ...(placement ? { replicaRegions: replicaRegionsOf(placement) } : {}),
    });
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'The provider issues these client credentials; they are rotated with the provider by hand, and an invalid_client answer makes the function re-read the secret at once.',
    );
    return secret;
  }
}

/** The deployment's regions as this stack sees them; undefined for a single-Region deployment. */
function regionalPlacement(scope: Construct, props: TokenVendingServiceProps): RegionalPlacement | undefined {
  if (!isMultiRegion(props.regions)) return undefined;
  const region = Stack.of(scope).region;
  return { regions: props.regions, region, isPrimary: region === props.regions[0] };
}

const replicaRegionsOf = (placement: RegionalPlacement): secretsmanager.ReplicaRegion[] =>
  placement.regions.filter((region) => region !== placement.region).map((region) => ({ region }));

/**
 * The entries as another region's function reads them: secrets and signing keys given by ARN name the
 * primary region's, and their replicas there differ only in the region (names find the replica as they are).
 */
function providersIn(providers: readonly ProviderConfig[], region: string): ProviderConfig[] {
  return providers.map((provider) => {
    const { signingKey } = provider;
    return {
      ...provider,
      secretId: inRegion(provider.secretId, region),
      ...(signingKey
        ? {
            signingKey: {
              ...signingKey,
              kms: inRegion(signingKey.kms, region),
              ...(signingKey.next
                ? { next: { ...signingKey.next, kms: inRegion(signingKey.next.kms, region) } }
                : {}),
            },
          }
        : {}),
    };
  });
}
