import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { createDeployment } from '../../infra/deployment';
import { ENVIRONMENTS, type EnvironmentSettings } from '../../infra/environments';
import {
  RENEWAL_MAX_RECEIVES as FUNCTION_MAX_RECEIVES,
  RENEWAL_VISIBILITY_SECONDS as FUNCTION_VISIBILITY,
  MAX_RENEWAL_DELAY_SECONDS,
} from '../../lambda/refresh/renewal-queue';
import { RENEWAL_QUEUE_ENVIRONMENT as FUNCTION_QUEUE_ENVIRONMENT } from '../../lambda/refresh/sqs-renewal-queue';
import {
  RENEWAL_MAX_RECEIVES,
  RENEWAL_QUEUE_ENVIRONMENT,
  RENEWAL_VISIBILITY_SECONDS,
} from '../../packages/construct/src/function-contract';
import { RENEWAL_MAX_CONCURRENCY } from '../../packages/construct/src/refresh-queue';
import { ACCOUNT, policyStatements, synthService } from './support';

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

  describe('the renewal queue', () => {
    const queueId = stack.getLogicalId(service.renewalQueue.queue.node.defaultChild as never);
    const deadLettersId = stack.getLogicalId(service.renewalQueue.deadLetters.node.defaultChild as never);

    it('agrees with the function on the environment variable, the visibility timeout and the deliveries', () => {
      assert.equal(RENEWAL_QUEUE_ENVIRONMENT, FUNCTION_QUEUE_ENVIRONMENT);
      assert.equal(RENEWAL_VISIBILITY_SECONDS, FUNCTION_VISIBILITY);
      assert.equal(RENEWAL_MAX_RECEIVES, FUNCTION_MAX_RECEIVES);
      // SQS delays a message at most 15 minutes: the function never asks for more.
      assert.equal(MAX_RENEWAL_DELAY_SECONDS, 900);
    });

    it('keeps a renewal invisible for longer than the function runs, and makes it a dead letter after three deliveries', () => {
      template.hasResourceProperties('AWS::SQS::Queue', {
        VisibilityTimeout: 30,
        SqsManagedSseEnabled: true,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [deadLettersId, 'Arn'] },
          maxReceiveCount: 3,
        },
      });
      const [fn] = Object.values(template.findResources('AWS::Lambda::Function'));
      assert.ok(Number(fn?.Properties.Timeout) <= RENEWAL_VISIBILITY_SECONDS);
    });

    it('lets no principal but the function role send, receive or delete renewals, whatever its IAM allows', () => {
      const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy')).filter((policy) =>
        JSON.stringify(policy.Properties.Queues).includes(queueId),
      );
      const statements = policies.flatMap(
        (policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>,
      );
      const deny = statements.find((statement) => statement.Sid === 'RenewalsAreTheFunctionsAlone');
      assert.ok(deny, JSON.stringify(statements));
      assert.equal(deny.Effect, 'Deny');
      assert.deepEqual(deny.Principal, { AWS: '*' });
      assert.deepEqual([...(deny.Action as string[])].sort(), [
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:ReceiveMessage',
        'sqs:SendMessage',
      ]);
      const roleArn = (deny.Condition as { ArnNotEquals: Record<string, unknown> }).ArnNotEquals[
        'aws:PrincipalArn'
      ];
      assert.match(JSON.stringify(roleArn), /ServiceRole|FunctionRole|Role/);
    });

    it('delivers renewals to the function ten at a time, at most five invocations at once, with partial batch failures', () => {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        FunctionName: { Ref: functionId },
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: RENEWAL_MAX_CONCURRENCY },
      });
    });

    it('tells the function where the queue is, and lets it send to that queue only', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ TVM_RENEWAL_QUEUE_URL: { Ref: queueId } }) },
      });
      const sqsStatements = policyStatements(template).filter((statement) =>
        statement.Action.some((action) => action.startsWith('sqs:')),
      );
      assert.ok(sqsStatements.length > 0);
      for (const statement of sqsStatements) {
        assert.deepEqual(statement.Resource, [{ 'Fn::GetAtt': [queueId, 'Arn'] }], JSON.stringify(statement));
      }
      assert.ok(sqsStatements.some((statement) => statement.Action.includes('sqs:SendMessage')));
      assert.ok(sqsStatements.some((statement) => statement.Action.includes('sqs:ChangeMessageVisibility')));
    });

    it('alarms on a dead letter and on a mark that does not verify', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: 'token-vending-test-RenewalDeadLetters',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLettersId, 'QueueName'] } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: 'token-vending-test-RefreshMarksRejected',
        MetricName: 'RefreshMarksRejected',
        Threshold: 0,
      });
    });
  });

  it('gives every region of a deployment its own renewal queue, which its function may send to and consume', () => {
    const context = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context;
    const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    const stacks = createDeployment(app, ENVIRONMENTS.production as EnvironmentSettings, {
      account: ACCOUNT,
    });
    assert.equal(stacks.length, 2);
    for (const regional of stacks) {
      const regionalTemplate = Template.fromStack(regional);
      const queues = regionalTemplate.findResources('AWS::SQS::Queue');
      assert.equal(Object.keys(queues).length, 2, regional.stackName);
      regionalTemplate.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
      const actions = policyStatements(regionalTemplate).flatMap((statement) => statement.Action);
      for (const action of [
        'sqs:SendMessage',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
      ]) {
        assert.ok(actions.includes(action), `${regional.stackName}: ${action}`);
      }
    }
  });
});
