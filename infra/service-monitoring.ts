import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';

export interface ServiceMonitoringProps {
  readonly handler: lambda.Function;
  readonly api: apigateway.RestApi;
  readonly functionLogs: logs.ILogGroup;
  /** Where alarms send notifications; none without it. */
  readonly alarmTopic?: sns.ITopic;
}

/** Upstream failures per 5 minutes before the alarm fires. */
const UPSTREAM_FAILURE_THRESHOLD = 5;

/**
 * Alarms and the dashboard. The constructs are children of `scope`, so their logical IDs are those of the
 * construct that calls this.
 */
export function createServiceMonitoring(
  scope: Construct,
  props: ServiceMonitoringProps,
): { alarms: cloudwatch.Alarm[]; dashboard: cloudwatch.Dashboard } {
  const alarms = createAlarms(scope, props);
  return { alarms, dashboard: createDashboard(scope, props, alarms) };
}

function createAlarms(scope: Construct, props: ServiceMonitoringProps): cloudwatch.Alarm[] {
  const upstreamFailures = new logs.MetricFilter(scope, 'UpstreamFailures', {
    logGroup: props.functionLogs,
    // Failed vends, and vends that the provider failed but a cached token saved.
    filterPattern: logs.FilterPattern.any(
      logs.FilterPattern.stringValue('$.error', '=', 'upstream_*'),
      logs.FilterPattern.stringValue('$.upstream_failure', '=', 'upstream_*'),
    ),
    metricNamespace: 'TokenVending',
    metricName: 'UpstreamFailures',
    metricValue: '1',
    defaultValue: 0,
  }).metric({ statistic: 'Sum', period: Duration.minutes(5) });

  const fiveMinutes = { period: Duration.minutes(5) };
  const once = { evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING };
  const alarms = [
    props.handler.metricErrors(fiveMinutes).createAlarm(scope, 'FunctionErrors', {
      alarmDescription: 'The vend function failed (a bug or a timeout): see its log group.',
      threshold: 1,
      ...once,
    }),
    props.handler.metricThrottles(fiveMinutes).createAlarm(scope, 'FunctionThrottles', {
      alarmDescription:
        'The vend function was throttled: raise its reserved concurrency or the account limit.',
      threshold: 1,
      ...once,
    }),
    props.api.metricServerError({ ...fiveMinutes, statistic: 'Sum' }).createAlarm(scope, 'Api5xx', {
      alarmDescription: 'The API answered 5xx: upstream providers unavailable, or internal errors.',
      threshold: 5,
      ...once,
    }),
    upstreamFailures.createAlarm(scope, 'UpstreamFailuresAlarm', {
      alarmDescription:
        'Providers refused, timed out or failed: the log lines with error=upstream_* name which.',
      threshold: UPSTREAM_FAILURE_THRESHOLD,
      ...once,
    }),
  ];
  if (props.alarmTopic) {
    for (const alarm of alarms) alarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
  }
  return alarms;
}

function createDashboard(
  scope: Construct,
  { api, handler }: ServiceMonitoringProps,
  alarms: readonly cloudwatch.Alarm[],
): cloudwatch.Dashboard {
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', {
    dashboardName: `${Stack.of(scope).stackName}-token-vending`,
  });
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Requests and errors',
      left: [api.metricCount(), api.metricClientError(), api.metricServerError()],
    }),
    new cloudwatch.GraphWidget({
      title: 'Latency (p50, p99)',
      left: [api.metricLatency({ statistic: 'p50' }), api.metricLatency({ statistic: 'p99' })],
      right: [handler.metricDuration({ statistic: 'p99' })],
    }),
    new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...alarms] }),
  );
  return dashboard;
}
