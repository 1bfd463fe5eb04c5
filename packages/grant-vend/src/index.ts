import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Grant } from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct, IConstruct } from 'constructs';

/** Where a vend API lives, as another team's stack knows it (e.g. from an SSM parameter or an export). */
export interface VendApiReference {
  readonly restApiId: string;
  readonly stageName: string;
  /** @default the grantee's stack's account */
  readonly account?: string;
  /** @default the grantee's stack's region */
  readonly region?: string;
}

/** The SSM parameters a token vending stack publishes for an environment. */
export function apiParameterNames(environment: string): {
  readonly restApiId: string;
  readonly url: string;
  readonly stageName: string;
} {
  const prefix = `/token-vending/${environment}`;
  return { restApiId: `${prefix}/api-id`, url: `${prefix}/api-url`, stageName: `${prefix}/stage` };
}

/**
 * The vend API of an environment in the grantee's own account and region, read at deploy time from the SSM
 * parameters its stack publishes: no id copied from stack outputs. A caller in another account cannot read
 * them; it names the API with {@link VendApiReference} instead (`restApiId`, `stageName`, `account`,
 * `region`, which the service's operators send it).
 */
export function vendApiOf(scope: IConstruct, environment: string): VendApiReference {
  const names = apiParameterNames(environment);
  return {
    restApiId: ssm.StringParameter.valueForStringParameter(scope as Construct, names.restApiId),
    stageName: ssm.StringParameter.valueForStringParameter(scope as Construct, names.stageName),
  };
}

/**
 * Lets `grantee` vend and evict tokens of one provider and list providers: `execute-api:Invoke` on exactly
 * those three method ARNs. The caller must also be in the provider's `callers`, and its account admitted by
 * the API's resource policy.
 */
export function grantVend(
  grantee: iam.IGrantable & IConstruct,
  api: VendApiReference | { readonly environment: string },
  providerId: string,
): iam.Grant {
  if ('environment' in api) return grantVend(grantee, vendApiOf(grantee, api.environment), providerId);
  const stack = Stack.of(grantee);
  const methodArn = (method: string, path: string) =>
    Arn.format(
      {
        service: 'execute-api',
        resource: api.restApiId,
        resourceName: `${api.stageName}/${method}${path}`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        ...(api.account ? { account: api.account } : {}),
        ...(api.region ? { region: api.region } : {}),
      },
      stack,
    );
  return Grant.addToPrincipal({
    grantee,
    actions: ['execute-api:Invoke'],
    resourceArns: [
      methodArn('POST', `/v1/tokens/${providerId}`),
      methodArn('DELETE', `/v1/tokens/${providerId}`),
      methodArn('GET', '/v1/providers'),
    ],
  });
}
