import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { type EnvironmentSettings, readProvidersFile } from './environments';
import { TokenVendingService, type TokenVendingServiceProps } from './token-vending-service';

export interface TokenVendingStackProps extends StackProps {
  readonly settings: EnvironmentSettings;
  /** Overrides for the service, e.g. allowed accounts or a private endpoint. */
  readonly service?: Partial<Omit<TokenVendingServiceProps, 'providers'>>;
}

/** One deployment of the service for one environment. */
export class TokenVendingStack extends Stack {
  public readonly service: TokenVendingService;

  constructor(scope: Construct, id: string, props: TokenVendingStackProps) {
    super(scope, id, props);
    const { settings } = props;
    this.service = new TokenVendingService(this, 'TokenVending', {
      providers: readProvidersFile(settings),
      removalPolicy: settings.removalPolicy,
      pointInTimeRecovery: settings.pointInTimeRecovery,
      tracing: settings.tracing,
      logRetention: settings.logRetention,
      ...(settings.alarmEmail ? { alarmEmail: settings.alarmEmail } : {}),
      ...props.service,
    });
    new CfnOutput(this, 'ApiUrl', { value: this.service.api.url, description: 'Base URL of the vend API' });
    new CfnOutput(this, 'RestApiId', {
      value: this.service.api.restApiId,
      description: 'For grantVend in the stacks of callers',
    });
    new CfnOutput(this, 'StageName', { value: this.service.api.deploymentStage.stageName });
    new CfnOutput(this, 'TableName', { value: this.service.table.tableName });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.service.alarmTopic.topicArn,
      description: 'Every alarm notifies this topic; subscribe whoever should hear of them',
    });
  }
}
