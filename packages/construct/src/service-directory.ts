import { CfnOutput, Fn, type Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { apiParameterNames } from 'token-vending-grant-vend';
import type { TokenVendingService } from './token-vending-service';

/**
 * Publishes where a regional service is, in its stack: the SSM parameters `grantVend(role, { environment })`
 * reads in callers' stacks (`/token-vending/<environment>/api-id`, `…/api-url`, `…/stage`), and the stack
 * outputs operators read after a deploy (`ApiUrl`, `RestApiId`, `StageName`, `TableName`, `AlarmTopicArn`;
 * `Region` and `PrimaryRegion` with several regions; `EgressIps` with fixed egress; `CustomDomainUrl` with a
 * custom domain). Made at the stack's own scope, under the ids this repository's stack has always used, so
 * a stack that moves to it keeps its resources. One service per stack: the names are the stack's.
 */
export function publishServiceDirectory(stack: Stack, service: TokenVendingService): void {
  const { api } = service;
  const names = apiParameterNames(service.environment);
  new ssm.StringParameter(stack, 'ApiIdParameter', {
    parameterName: names.restApiId,
    stringValue: api.restApiId,
    description: "The token vending API id, for grantVend in callers' stacks",
  });
  new ssm.StringParameter(stack, 'ApiUrlParameter', {
    parameterName: names.url,
    stringValue: api.url,
    description: 'The token vending API base URL (stage included), for callers',
  });
  new ssm.StringParameter(stack, 'ApiStageParameter', {
    parameterName: names.stageName,
    stringValue: api.deploymentStage.stageName,
    description: "The token vending API stage, for grantVend in callers' stacks",
  });
  new CfnOutput(stack, 'ApiUrl', { value: api.url, description: 'Base URL of the vend API' });
  new CfnOutput(stack, 'RestApiId', {
    value: api.restApiId,
    description: 'For grantVend in the stacks of callers',
  });
  new CfnOutput(stack, 'StageName', { value: api.deploymentStage.stageName });
  new CfnOutput(stack, 'TableName', { value: service.table.tableName });
  new CfnOutput(stack, 'AlarmTopicArn', {
    value: service.alarmTopic.topicArn,
    description: 'Every alarm notifies this topic; subscribe whoever should hear of them',
  });
  const [primaryRegion] = service.regions;
  if (primaryRegion) {
    new CfnOutput(stack, 'Region', {
      value: stack.region,
      description: 'This stack serves this region; callers sign for it',
    });
    new CfnOutput(stack, 'PrimaryRegion', {
      value: primaryRegion,
      description: 'The region whose stack holds the global table, the multi-Region key and the secrets',
    });
  }
  if (service.egressAddresses.length > 0) {
    new CfnOutput(stack, 'EgressIps', {
      value: Fn.join(',', [...service.egressAddresses]),
      description:
        'Provider traffic leaves from these addresses: send them to providers that allowlist by IP',
    });
  }
  if (service.customDomain) {
    new CfnOutput(stack, 'CustomDomainUrl', {
      value: `https://${service.customDomain.domainName.domainName}/`,
      description:
        'One name for every region\'s API: sign for the region that answers (docs/api.md, "One name for several regions")',
    });
  }
}
