import assert from 'node:assert/strict';
import { Match } from 'aws-cdk-lib/assertions';
import { synthService } from './support';

describe('The refresher schedule', () => {
  const { template, stack, service } = synthService();
  const functionId = stack.getLogicalId(service.function.node.defaultChild as never);
  const ruleId = stack.getLogicalId(service.refreshSchedule.node.defaultChild as never);

  it('invokes the vend function once a minute, once per event, with no retries piling up', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [functionId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        }),
      ],
    });
    // The default scheduled event: the entry tells it from an API request by its shape.
    const [rule] = Object.values(template.findResources('AWS::Events::Rule'));
    assert.equal(rule?.Properties.Targets[0].Input, undefined);
  });

  it('lets only this rule invoke the function through EventBridge (no role, no wildcard source)', () => {
    const permissions = Object.values(
      template.findResources('AWS::Lambda::Permission', {
        Properties: { Principal: 'events.amazonaws.com' },
      }),
    );
    assert.equal(permissions.length, 1);
    assert.deepEqual(permissions[0]?.Properties, {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
    });
  });
});
