import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { REFRESH_PERIOD_SECONDS } from './function-contract';

/**
 * Invokes the vend function once a period with EventBridge's scheduled event, which it answers by renewing
 * the keys in use before their refresh point. A rule rather than EventBridge Scheduler: the invoke is
 * allowed by a resource policy on the function naming this rule alone, so there is no role to scope; a
 * missed run costs nothing the next run (which looks back a period) and the request path do not recover.
 */
export function createRefreshSchedule(scope: Construct, handler: lambda.IFunction): events.Rule {
  const rule = new events.Rule(scope, 'RefreshSchedule', {
    description: 'Renews the token vending keys in use before callers would wait for a renewal',
    schedule: events.Schedule.rate(Duration.seconds(REFRESH_PERIOD_SECONDS)),
  });
  // One attempt: a run that fails is superseded by the next one a period later, never piled up behind it.
  rule.addTarget(
    new targets.LambdaFunction(handler, {
      retryAttempts: 0,
      maxEventAge: Duration.seconds(REFRESH_PERIOD_SECONDS),
    }),
  );
  return rule;
}
