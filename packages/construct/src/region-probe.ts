import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

/** What the probe calls: the one method that answers 200 to any admitted caller, naming no provider. */
export const PROBE_METHOD = 'GET';
export const PROBE_PATH = '/v1/providers';

/**
 * The role EventBridge signs the region's probe with (SigV4, as any caller). Made before the API, whose
 * resource policy admits it for {@link PROBE_METHOD} {@link PROBE_PATH} alone ({@link probeStatements});
 * its own permission is added by {@link createRegionProbe}, once the API exists.
 */
export function createProbeRole(scope: Construct): iam.Role {
  return new iam.Role(scope, 'RegionProbeRole', {
    assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
    }),
    description: "Signs the once-a-minute probe of this region's API that keeps its availability alarm fed",
  });
}

/**
 * The API resource policy's part for the probe role: admitted on the probe's method, denied everything
 * else (whatever its IAM policies say); the deny on unnamed callers exempts it (service-api.ts).
 */
export function probeStatements(probeRoleArn: string, stageName: string): iam.PolicyStatement[] {
  const method = `execute-api:/${stageName}/${PROBE_METHOD}${PROBE_PATH}`;
  return [
    new iam.PolicyStatement({
      sid: 'RegionProbe',
      effect: iam.Effect.ALLOW,
      principals: [new iam.ArnPrincipal(probeRoleArn)],
      actions: ['execute-api:Invoke'],
      resources: [method],
    }),
    new iam.PolicyStatement({
      sid: 'RegionProbeNothingElse',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['execute-api:Invoke'],
      notResources: [method],
      conditions: { ArnEquals: { 'aws:PrincipalArn': probeRoleArn } },
    }),
  ];
}

/**
 * Calls the region's own API once a minute, signed with `role`, so its `RegionUnavailable` alarm always
 * has a datapoint: without traffic (DNS has moved callers elsewhere) the alarm would otherwise see nothing,
 * turn OK and bring the traffic back to a region still failing. One attempt per minute, never retried.
 */
export function createRegionProbe(scope: Construct, api: apigateway.RestApi, role: iam.Role): events.Rule {
  const methodArn = api.arnForExecuteApi(PROBE_METHOD, PROBE_PATH, api.deploymentStage.stageName);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources: [methodArn] }),
  );
  const rule = new events.Rule(scope, 'RegionProbe', {
    description: `Probes ${PROBE_METHOD} ${PROBE_PATH} of this region's token vending API once a minute`,
    schedule: events.Schedule.rate(Duration.minutes(1)),
  });
  // EventBridge's API Gateway target, but with the role's permission exactly Invoke on the one method
  // (aws-events-targets' ApiGateway adds ManageConnections and makes its own role).
  rule.addTarget({
    bind: () => ({
      arn: methodArn,
      role,
      targetResource: api,
      retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
    }),
  });
  return rule;
}
