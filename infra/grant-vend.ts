import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Grant } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

/** Where a vend API lives, as another team's stack knows it (e.g. from an SSM parameter or an export). */
export interface VendApiReference {
  readonly restApiId: string;
  readonly stageName: string;
  /** @default the grantee's stack's account */
  readonly account?: string;
  /** @default the grantee's stack's region */
  readonly region?: string;
}

/**
 * Lets `grantee` vend and evict tokens of one provider and list providers: `execute-api:Invoke` on exactly
 * those three method ARNs. The caller must also be in the provider's `callers`, and its account admitted by
 * the API's resource policy.
 */
export function grantVend(
  grantee: iam.IGrantable & IConstruct,
  api: VendApiReference,
  providerId: string,
): iam.Grant {
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
