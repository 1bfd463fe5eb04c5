import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { acknowledge } from './cdk-nag';
import {
  RENEWAL_MAX_RECEIVES,
  RENEWAL_QUEUE_ENVIRONMENT,
  RENEWAL_VISIBILITY_SECONDS,
} from './function-contract';

/**
 * Renewal invocations at once: each renews up to 10 keys, 8 at a time, so providers see at most 40 of the
 * refresher's requests together, and the vend path keeps the rest of the function's reserved concurrency.
 * At ~0.5 s a batch that is ~100 renewals a second (6,000 a minute), three times what 20,000 keys first used
 * within two minutes need as they fall due together.
 */
export const RENEWAL_MAX_CONCURRENCY = 5;
/** Messages one invocation receives (SQS's largest batch without a batching window). */
export const RENEWAL_BATCH_SIZE = 10;

export interface RenewalQueueResources {
  readonly queue: sqs.Queue;
  /** Renewals delivered {@link RENEWAL_MAX_RECEIVES} times without being done. */
  readonly deadLetters: sqs.Queue;
}

/**
 * The renewal queue: the scheduled run sends each key due in the next period as a message delayed to its
 * renewal time (the function's `SqsRenewalQueue`), and an event source mapping delivers them to the same
 * function with bounded concurrency and partial batch failures, so one failing key is retried alone. A
 * renewal that fails three times is a dead letter: the key's valid token stays and the request path renews
 * it; {@link renewalQueueAlarms} reports it. Encrypted at rest by SQS (no key policy to scope: the messages
 * are marks, which hold no secret and no token), TLS only, and sent and received by the function role alone.
 */
export function createRenewalQueue(scope: Construct, handler: lambda.Function): RenewalQueueResources {
  const deadLetters = new sqs.Queue(scope, 'RenewalDeadLetterQueue', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  acknowledge(
    deadLetters,
    'AwsSolutions-SQS3',
    "This is the renewal queue's dead-letter queue; a dead letter of it would have nothing to redrive to.",
  );
  const queue = new sqs.Queue(scope, 'RenewalQueue', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    visibilityTimeout: Duration.seconds(RENEWAL_VISIBILITY_SECONDS),
    // A renewal not delivered within an hour is long past its token: the next run has handed over a newer one.
    retentionPeriod: Duration.hours(1),
    deadLetterQueue: { queue: deadLetters, maxReceiveCount: RENEWAL_MAX_RECEIVES },
  });
  queue.grantSendMessages(handler);
  // Renewals are the function's alone: no other principal of the account sends a copy of a mark (it would
  // be renewed at its time, charged to the caller that marked it) or reads one, whatever its IAM allows.
  const functionRoleArn = handler.role?.roleArn;
  if (functionRoleArn) {
    queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'RenewalsAreTheFunctionsAlone',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [
          'sqs:SendMessage',
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
        ],
        resources: [queue.queueArn],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': functionRoleArn } },
      }),
    );
  }
  handler.addEnvironment(RENEWAL_QUEUE_ENVIRONMENT, queue.queueUrl);
  handler.addEventSource(
    new sources.SqsEventSource(queue, {
      batchSize: RENEWAL_BATCH_SIZE,
      maxConcurrency: RENEWAL_MAX_CONCURRENCY,
      reportBatchItemFailures: true,
    }),
  );
  return { queue, deadLetters };
}

/**
 * `RenewalDeadLetters`: a renewal failed three deliveries (a provider or its secret failing for keys in
 * use, or invocations dying). Not urgent for callers (the valid tokens stay and the request path renews
 * them) but it is work the refresher could not do; the messages stay 14 days to be read.
 */
export function renewalQueueAlarms(scope: Construct, resources: RenewalQueueResources): cloudwatch.Alarm[] {
  return [
    resources.deadLetters
      .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) })
      .createAlarm(scope, 'RenewalDeadLetters', {
        alarmDescription:
          'Renewals were delivered three times without being done and are in the renewal dead-letter queue: those keys renew on the request path. See "The renewal queue" in docs/operations.md.',
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
  ];
}
