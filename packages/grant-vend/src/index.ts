import { Arn, ArnFormat, ContextProvider, Stack, Token } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Grant } from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as cxschema from 'aws-cdk-lib/cloud-assembly-schema';
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

/**
 * An environment's APIs found through the SSM parameters each of its regional stacks publishes in the
 * grantee's account: in the grantee's own region, or in each of `regions`.
 */
export interface VendEnvironment {
  readonly environment: string;
  /**
   * The regions the environment is deployed in (the service's `regions`, primary first). A region other
   * than the grantee stack's own is read at synth by a context lookup, which needs the stack's account and
   * region to be concrete, and is kept in `cdk.context.json` (an API's id does not change while its stack
   * lives; `cdk context --reset` after a regional stack was replaced).
   * @default the grantee's stack's region only
   */
  readonly regions?: readonly string[];
}

/** The SSM parameters a token vending stack publishes for an environment (in each of its regions). */
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
 * The vend APIs of an environment in every one of `regions`, in the grantee's account. The own region's is
 * read at deploy time ({@link vendApiOf}); CloudFormation can read parameters of its own region only, so the
 * others are looked up at synth (an SSM context lookup in that region, cached in `cdk.context.json`).
 */
export function vendApisOf(
  scope: IConstruct,
  environment: string,
  regions: readonly string[],
): VendApiReference[] {
  const stack = Stack.of(scope);
  if (
    regions.some((region) => region !== stack.region) &&
    (Token.isUnresolved(stack.region) || Token.isUnresolved(stack.account))
  ) {
    throw new Error(
      `grantVend: looking up the APIs of ${environment} in other regions needs a stack with a concrete account and region (env: { account, region }); ${stack.node.path} has none`,
    );
  }
  const names = apiParameterNames(environment);
  const lookup = (parameterName: string, region: string) => {
    const query = {
      provider: cxschema.ContextProvider.SSM_PARAMETER_PROVIDER,
      props: { parameterName, region },
    };
    // The CLI could not look it up (no credentials, no permission, no parameter): say which context would
    // let synth go on without AWS, rather than the CLI's error alone.
    const { key } = ContextProvider.getKey(scope as Construct, query);
    const failure = (scope.node.tryGetContext(key) as { $providerError?: unknown } | undefined)
      ?.$providerError;
    if (failure !== undefined) {
      throw new Error(
        `grantVend: could not look up ${parameterName} in ${region} (${String(failure)}); deploy the service there first and synth with AWS credentials once (committing cdk.context.json), or set it in cdk.json's "context": "${key}": "<its value>"`,
      );
    }
    return ContextProvider.getValue(scope as Construct, {
      ...query,
      dummyValue: `dummy-value-for-${parameterName}`,
      // A parameter that is not there fails the synth, naming it, rather than granting on a dummy id.
      mustExist: true,
    }).value as string;
  };
  return regions.map((region) =>
    region === stack.region
      ? { ...vendApiOf(scope, environment), region }
      : {
          restApiId: lookup(names.restApiId, region),
          stageName: lookup(names.stageName, region),
          region,
        },
  );
}

type VendApis = VendApiReference | readonly VendApiReference[] | VendEnvironment;

function referencesOf(grantee: IConstruct, api: VendApis): readonly VendApiReference[] {
  if ('environment' in api) {
    return api.regions && api.regions.length > 0
      ? vendApisOf(grantee, api.environment, api.regions)
      : [vendApiOf(grantee, api.environment)];
  }
  const list: readonly VendApiReference[] = Array.isArray(api) ? api : [api as VendApiReference];
  if (list.length === 0) throw new Error('grantVend: no API to grant on');
  if (list.length > 1) {
    // Two references without a region would both default to the grantee's: one region granted twice, the
    // other never.
    const regions = list.map((reference) => reference.region);
    if (regions.some((region) => region === undefined)) {
      throw new Error('grantVend: with several APIs, each reference names its region');
    }
  }
  return list;
}

/**
 * Lets `grantee` vend and evict tokens of one provider and list providers: `execute-api:Invoke` on exactly
 * those three method ARNs, of every API given (one per region of a multi-region deployment), in one IAM
 * statement. The caller must also be in the provider's `callers`, and its account admitted by the API's
 * resource policy.
 */
export function grantVend(
  grantee: iam.IGrantable & IConstruct,
  api: VendApis,
  providerId: string,
): iam.Grant {
  const stack = Stack.of(grantee);
  const methodArn = (reference: VendApiReference, method: string, path: string) =>
    Arn.format(
      {
        service: 'execute-api',
        resource: reference.restApiId,
        resourceName: `${reference.stageName}/${method}${path}`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        ...(reference.account ? { account: reference.account } : {}),
        ...(reference.region ? { region: reference.region } : {}),
      },
      stack,
    );
  return Grant.addToPrincipal({
    grantee,
    actions: ['execute-api:Invoke'],
    resourceArns: referencesOf(grantee, api).flatMap((reference) => [
      methodArn(reference, 'POST', `/v1/tokens/${providerId}`),
      methodArn(reference, 'DELETE', `/v1/tokens/${providerId}`),
      methodArn(reference, 'GET', '/v1/providers'),
    ]),
  });
}
