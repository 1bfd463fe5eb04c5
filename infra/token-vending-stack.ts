import { CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { TokenVendingService, type TokenVendingServiceProps } from 'token-vending-construct';
import { apiParameterNames } from 'token-vending-grant-vend';
import { type EnvironmentSettings, readProvidersFile } from './environments';

export interface TokenVendingStackProps extends StackProps {
  readonly settings: EnvironmentSettings;
  /** Overrides for the service (from `-c` flags where the environment allows them, or a test). */
  readonly service?: Partial<Omit<TokenVendingServiceProps, 'providers' | 'environment'>>;
  /** The primary region's stack, in every other region's stack of a multi-Region environment. */
  readonly primary?: TokenVendingStack;
}

/** The service props an environment's settings give, before any override. */
export function serviceSettings(settings: EnvironmentSettings): Omit<TokenVendingServiceProps, 'providers'> {
  return {
    environment: settings.name,
    removalPolicy: settings.removalPolicy,
    pointInTimeRecovery: settings.pointInTimeRecovery,
    tracing: settings.tracing,
    logRetention: settings.logRetention,
    ...(settings.alarmEmail ? { alarmEmail: settings.alarmEmail } : {}),
    ...(settings.allowedAccounts ? { allowedAccounts: settings.allowedAccounts } : {}),
    ...(settings.throttling ? { throttling: settings.throttling } : {}),
    ...(settings.egress === 'fixed' ? { egress: { type: 'fixed', zones: settings.egressZones ?? 2 } } : {}),
    ...(settings.releaseEgressIps ? { releaseEgressIps: true } : {}),
    ...(settings.privateEndpoint
      ? { endpoint: { type: 'private', vpcEndpoints: [...settings.privateEndpoint.vpcEndpointIds] } }
      : {}),
    ...(settings.memorySize === undefined ? {} : { memorySize: settings.memorySize }),
    ...(settings.tableEncryptionKeyArn ? { tableEncryptionKeyArn: settings.tableEncryptionKeyArn } : {}),
    ...(settings.apiGatewayAccountRole ? { apiGatewayAccountRole: settings.apiGatewayAccountRole } : {}),
    ...(settings.breakGlassRoleArn ? { breakGlassRoleArn: settings.breakGlassRoleArn } : {}),
    ...(settings.deployRoleArn ? { deployRoleArn: settings.deployRoleArn } : {}),
    ...(settings.tableEncryption ? { tableEncryption: settings.tableEncryption } : {}),
    ...(settings.reservedConcurrency === undefined
      ? {}
      : { reservedConcurrentExecutions: settings.reservedConcurrency }),
    ...(settings.createSecrets === false ? { createSecrets: false } : {}),
    ...(settings.regions ? { regions: settings.regions } : {}),
    ...(settings.customDomain ? { customDomain: settings.customDomain } : {}),
  };
}

/**
 * One deployment of the service for one environment: what `infra/environments.ts` says (with `-c`
 * overrides where the environment allows them), through the `token-vending-construct` package as any
 * adopter's app uses it. It publishes where its API is as SSM parameters, so callers' stacks find it (`grantVend`).
 */
export class TokenVendingStack extends Stack {
  public readonly service: TokenVendingService;

  constructor(scope: Construct, id: string, props: TokenVendingStackProps) {
    super(scope, id, props);
    const { settings } = props;
    this.service = new TokenVendingService(this, 'TokenVending', {
      providers: readProvidersFile(settings),
      ...serviceSettings(settings),
      ...(props.primary ? { primary: props.primary.service } : {}),
      ...props.service,
    });
    const { api } = this.service;
    const names = apiParameterNames(settings.name);
    new ssm.StringParameter(this, 'ApiIdParameter', {
      parameterName: names.restApiId,
      stringValue: api.restApiId,
      description: "The token vending API id, for grantVend in callers' stacks",
    });
    new ssm.StringParameter(this, 'ApiUrlParameter', {
      parameterName: names.url,
      stringValue: api.url,
      description: 'The token vending API base URL (stage included), for callers',
    });
    new ssm.StringParameter(this, 'ApiStageParameter', {
      parameterName: names.stageName,
      stringValue: api.deploymentStage.stageName,
      description: "The token vending API stage, for grantVend in callers' stacks",
    });
    new CfnOutput(this, 'ApiUrl', { value: api.url, description: 'Base URL of the vend API' });
    new CfnOutput(this, 'RestApiId', {
      value: api.restApiId,
      description: 'For grantVend in the stacks of callers',
    });
    new CfnOutput(this, 'StageName', { value: api.deploymentStage.stageName });
    new CfnOutput(this, 'TableName', { value: this.service.table.tableName });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.service.alarmTopic.topicArn,
      description: 'Every alarm notifies this topic; subscribe whoever should hear of them',
    });
    const [primaryRegion] = this.service.regions;
    if (primaryRegion) {
      new CfnOutput(this, 'Region', {
        value: this.region,
        description: 'This stack serves this region; callers sign for it',
      });
      new CfnOutput(this, 'PrimaryRegion', {
        value: primaryRegion,
        description: 'The region whose stack holds the global table, the multi-Region key and the secrets',
      });
    }
    if (this.service.egressAddresses.length > 0) {
      new CfnOutput(this, 'EgressIps', {
        value: Fn.join(',', [...this.service.egressAddresses]),
        description:
          'Provider traffic leaves from these addresses: send them to providers that allowlist by IP',
      });
    }
    if (settings.customDomain) {
      new CfnOutput(this, 'CustomDomainUrl', {
        value: `https://${settings.customDomain.domainName}/`,
        description:
          'One name for every region\'s API: sign for the region that answers (docs/api.md, "One name for several regions")',
      });
    }
  }
}
