import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import {
  publishServiceDirectory,
  TokenVendingService,
  type TokenVendingServiceProps,
} from 'token-vending-construct';
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
    publishServiceDirectory(this, this.service);
  }
}
