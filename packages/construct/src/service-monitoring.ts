import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { ProviderConfig } from '../../../lambda/config/provider-schema';
import { METRIC, METRICS_NAMESPACE, METRICS_SERVICE } from '../../../lambda/contracts/metrics';
import { REFRESH_RUN_BUDGET_MS } from './function-contract';
import { DEFAULT_DAILY_TOKENS } from './provider-entry';
import { type RenewalQueueResources, renewalQueueAlarms } from './refresh-queue';
import { isMultiRegion } from './service-regions';

export interface ServiceMonitoringProps {
  readonly handler: lambda.Function;
  readonly api: apigateway.RestApi;
  readonly functionLogs: logs.ILogGroup;
  readonly providers: readonly ProviderConfig[];
  /** Prefixes every alarm's name (and, with several `regions`, the stack's region after it). */
  readonly environment: string;
  /** Where alarms go. @default a topic of the stack's own, encrypted */
  readonly alarmTopic?: sns.ITopic;
  /** An address the stack's own topic mails every alarm to. @default none */
  readonly alarmEmail?: string;
  /** The token table's name, the same in every region of a global table. */
  readonly tableName: string;
  /**
   * The deployment's regions, primary first. With several: replication latency to each other region (an
   * alarm and a widget) and the share of table hits served from another region's item.
   * @default the stack's region only
   */
  readonly regions?: readonly string[];
  /**
   * Create the region's availability alarm (`RegionUnavailable`), which a Route 53 health check of the
   * custom domain watches. @default false
   */
  readonly availabilityAlarm?: boolean;
  /** The renewal queue: its dead letters alarm (`RenewalDeadLetters`). @default none */
  readonly renewalQueue?: RenewalQueueResources;
}

export interface ServiceMonitoring {
  readonly topic: sns.ITopic;
  readonly alarms: cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;
  /** `RegionUnavailable`, when asked for. */
  readonly availability: cloudwatch.Alarm | undefined;
}

/** Upstream failures of one provider per 5 minutes before its alarm fires. */
const UPSTREAM_FAILURE_THRESHOLD = 5;
/** `access_denied` answers per 5 minutes that count as a spike: a caller misconfigured, or someone probing. */
const DENIAL_SPIKE_THRESHOLD = 20;
const FIVE_MINUTES = Duration.minutes(5);
const ONE_MINUTE = Duration.minutes(1);
/**
 * Refresher runs (one a minute) of the last {@link REFRESHER_WINDOW_RUNS} that left keys not started before
 * `RefresherBehind` fires. One such run is a blip (a slow provider for a minute, a cold start): its keys cost
 * one caller's wait each on the request path, as before the refresher, and the next run looks back over them.
 * Three in five means the due keys outgrow what a run starts in its 20 s, so it no longer keeps up; and the
 * alarm clears once the runs catch up again.
 */
export const REFRESHER_BEHIND_RUNS = 3;
const REFRESHER_WINDOW_RUNS = 5;
/**
 * Failed renewals in 5 minutes before `RefreshFailures` fires: the request path's threshold
 * ({@link UPSTREAM_FAILURE_THRESHOLD}), since a failed renewal costs callers nothing yet (the valid token
 * stays, the request path renews it) but failures on this scale mean a provider or its secret is broken for
 * keys in use, which callers will meet when those tokens run out.
 */
export const REFRESH_FAILURE_THRESHOLD = 5;
/**
 * Average replication latency (ms) that, sustained for {@link REPLICATION_LAG_MINUTES} minutes, alarms. Global
 * tables replicate in about a second; a minute behind means a token fetched in one region is not yet a
 * table hit in the other for a good part of its lifetime (tokens live 5 minutes to an hour), so each region
 * fetches its own: nothing is wrong for callers, but providers see up to one request per key per region, and
 * a replica that lags that long is AWS's signal of a replication problem (or of the other region failing).
 */
export const REPLICATION_LAG_THRESHOLD_MS = 60_000;
const REPLICATION_LAG_MINUTES = 5;
/**
 * Share of API requests answered 5xx, each minute, for {@link UNAVAILABLE_MINUTES} minutes in a row, that
 * makes a region unavailable for Route 53 (API Gateway's `5XXError` averages to that share).
 */
export const UNAVAILABLE_5XX_SHARE = 0.5;
const UNAVAILABLE_MINUTES = 3;

/**
 * Alarms that reach someone, the dashboard and the Logs Insights queries, from the function's EMF metrics
 * (namespace {@link METRICS_NAMESPACE}) and the Lambda and API Gateway metrics. Every alarm notifies the alarm
 * topic. The constructs are children of `scope`, so their logical IDs are those of the construct that calls
 * this.
 */
export function createServiceMonitoring(scope: Construct, props: ServiceMonitoringProps): ServiceMonitoring {
  const topic = props.alarmTopic ?? createAlarmTopic(scope, props.alarmEmail);
  const alarms = createAlarms(scope, props);
  alarms.push(...replicationAlarms(scope, props));
  if (props.renewalQueue) alarms.push(...renewalQueueAlarms(scope, props.renewalQueue));
  const availability = props.availabilityAlarm ? availabilityAlarm(scope, props.api) : undefined;
  if (availability) alarms.push(availability);
  // With several regions each region's alarms say which region they are (the same alarm in two regions
  // would otherwise mail the same subject).
  const prefix = isMultiRegion(props.regions)
    ? `token-vending-${props.environment}-${Stack.of(scope).region}`
    : `token-vending-${props.environment}`;
  for (const alarm of alarms) {
    // `token-vending-production-UpstreamFailures-bcc-production`, not a generated name: what a notification
    // says is what docs/operations.md lists.
    (alarm.node.defaultChild as cloudwatch.CfnAlarm).alarmName = `${prefix}-${alarm.node.id}`;
  }
  const action = new cloudwatchActions.SnsAction(topic);
  for (const alarm of alarms) {
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }
  createQueries(scope, props.functionLogs);
  const dashboard = createDashboard(scope, props, alarms);
  addRegionWidgets(dashboard, scope, props);
  return { topic, alarms, dashboard, availability };
}

/** The deployment's regions other than the stack's own. */
function otherRegions(scope: Construct, regions: readonly string[] | undefined): string[] {
  const own = Stack.of(scope).region;
  return (regions ?? []).filter((region) => region !== own);
}

/**
 * DynamoDB's latency of replicating this region's writes to `region`, published by the region that writes
 * (AWS/DynamoDB, dimensions TableName and ReceivingRegion).
 */
function replicationLatency(tableName: string, region: string, statistic: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/DynamoDB',
    metricName: 'ReplicationLatency',
    dimensionsMap: { TableName: tableName, ReceivingRegion: region },
    statistic,
    period: ONE_MINUTE,
  });
}

function replicationAlarms(scope: Construct, props: ServiceMonitoringProps): cloudwatch.Alarm[] {
  return otherRegions(scope, props.regions).map((region) =>
    replicationLatency(props.tableName, region, 'Average').createAlarm(
      scope,
      `ReplicationLatency-${region}`,
      {
        alarmDescription: `The token table's writes reach ${region} more than ${REPLICATION_LAG_THRESHOLD_MS / 1000} s late, for ${REPLICATION_LAG_MINUTES} minutes: each region fetches its own tokens meanwhile (one upstream request per key per region). See "A region is down" in docs/operations.md.`,
        threshold: REPLICATION_LAG_THRESHOLD_MS,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: REPLICATION_LAG_MINUTES,
        datapointsToAlarm: REPLICATION_LAG_MINUTES,
        // No data means no writes to replicate, not a lag.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    ),
  );
}

/**
 * The region cannot serve: most requests answered 5xx, three minutes in a row. A metric alarm (Route 53
 * health checks take no composite or metric-math alarm). The region's probe (region-probe.ts) gives it a
 * request every minute, so no data means a region that publishes nothing: unavailable.
 */
function availabilityAlarm(scope: Construct, api: apigateway.RestApi): cloudwatch.Alarm {
  return api
    .metricServerError({ period: ONE_MINUTE, statistic: 'Average' })
    .createAlarm(scope, 'RegionUnavailable', {
      alarmDescription: `More than ${UNAVAILABLE_5XX_SHARE * 100} % of this region's requests answered 5xx for ${UNAVAILABLE_MINUTES} minutes: the custom domain's Route 53 health check takes the region out of DNS while this alarms. See "A region is down" in docs/operations.md.`,
      threshold: UNAVAILABLE_5XX_SHARE,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: UNAVAILABLE_MINUTES,
      datapointsToAlarm: UNAVAILABLE_MINUTES,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
}

/** With several regions: replication latency to each other region, and the share of hits from their items. */
function addRegionWidgets(
  dashboard: cloudwatch.Dashboard,
  scope: Construct,
  props: ServiceMonitoringProps,
): void {
  const others = otherRegions(scope, props.regions);
  if (others.length === 0) return;
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Table replication latency (ms)',
      left: others.flatMap((region) =>
        ['Average', 'Maximum'].map((statistic) =>
          replicationLatency(props.tableName, region, statistic).with({
            label: `to ${region} (${statistic})`,
          }),
        ),
      ),
      leftAnnotations: [{ value: REPLICATION_LAG_THRESHOLD_MS, label: 'alarm (sustained 5 min)' }],
    }),
    new cloudwatch.GraphWidget({
      title: "Table hits served from another region's item (%)",
      // Metric ids must be unique in a widget, and provider ids are not valid ids: number them.
      left: props.providers.map(
        (provider, index) =>
          new cloudwatch.MathExpression({
            expression: `100 * peer${index} / table${index}`,
            usingMetrics: {
              [`peer${index}`]: serviceMetric(METRIC.peerTableHits, { provider: provider.id }),
              [`table${index}`]: serviceMetric(METRIC.vends, { provider: provider.id, cache: 'table' }),
            },
            label: provider.id,
            period: FIVE_MINUTES,
          }),
      ),
      leftYAxis: { min: 0, max: 100 },
    }),
  );
}

/** The service's metric, by name and dimensions (the `service` dimension is always there). */
export function serviceMetric(
  name: string,
  dimensions: Record<string, string> = {},
  options: { statistic?: string; period?: Duration; label?: string } = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: METRICS_SERVICE, ...dimensions },
    statistic: options.statistic ?? 'Sum',
    period: options.period ?? FIVE_MINUTES,
    ...(options.label ? { label: options.label } : {}),
  });
}

/** A topic encrypted with a key CloudWatch may use (the AWS-managed SNS key does not let alarms publish). */
function createAlarmTopic(scope: Construct, email: string | undefined): sns.Topic {
  const key = new kms.Key(scope, 'AlarmTopicKey', {
    description: 'Encrypts the token vending alarm topic',
    enableKeyRotation: true,
  });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
    }),
  );
  const topic = new sns.Topic(scope, 'AlarmTopic', {
    displayName: 'Token vending service alarms',
    masterKey: key,
    enforceSSL: true,
  });
  if (email) topic.addSubscription(new subscriptions.EmailSubscription(email));
  return topic;
}

function createAlarms(scope: Construct, props: ServiceMonitoringProps): cloudwatch.Alarm[] {
  const once = { evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING };
  const alarms = [
    props.handler.metricErrors({ period: FIVE_MINUTES }).createAlarm(scope, 'FunctionErrors', {
      alarmDescription:
        'The vend function failed (a bug or a timeout): see its log group, lines at level ERROR.',
      threshold: 1,
      ...once,
    }),
    props.handler.metricThrottles({ period: FIVE_MINUTES }).createAlarm(scope, 'FunctionThrottles', {
      alarmDescription:
        'The vend function was throttled: raise its reserved concurrency or the account limit.',
      threshold: 1,
      ...once,
    }),
    props.api.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' }).createAlarm(scope, 'Api5xx', {
      alarmDescription: 'The API answered 5xx: upstream providers unavailable, or internal errors.',
      threshold: 5,
      ...once,
    }),
    serviceMetric('TableErrors').createAlarm(scope, 'TableBypassed', {
      alarmDescription:
        'The token table failed or hung and containers bypassed it: each caches alone, and providers see one request per container. See cache_table_error lines.',
      threshold: 1,
      ...once,
    }),
    serviceMetric(METRIC.sealingFailures).createAlarm(scope, 'SealingUnavailable', {
      alarmDescription:
        'KMS could not seal or open tokens (disabled or revoked key, throttling, or KMS unreachable): containers bypass the table for 10 s at a time, and providers see one request per container. See sealing_unavailable lines.',
      threshold: 1,
      ...once,
    }),
    serviceMetric('Denials').createAlarm(scope, 'AccessDeniedSpike', {
      alarmDescription: `More than ${DENIAL_SPIKE_THRESHOLD} access_denied answers in 5 minutes: a caller misconfigured, or someone probing. Run the "denials" query.`,
      threshold: DENIAL_SPIKE_THRESHOLD,
      ...once,
    }),
    ...refresherAlarms(scope),
  ];
  for (const provider of props.providers) {
    alarms.push(
      serviceMetric('UpstreamFailures', { provider: provider.id }).createAlarm(
        scope,
        `UpstreamFailures-${provider.id}`,
        {
          alarmDescription: `Provider ${provider.id} refused, timed out or failed ${UPSTREAM_FAILURE_THRESHOLD} times in 5 minutes. Run the "upstream failures by provider" query.`,
          threshold: UPSTREAM_FAILURE_THRESHOLD,
          ...once,
        },
      ),
    );
    alarms.push(tokenPaceAlarm(scope, provider, Math.max(1, props.regions?.length ?? 1)));
  }
  return alarms;
}

/** The refresher not keeping up (keys left to the request path, run after run) and its renewals failing. */
function refresherAlarms(scope: Construct): cloudwatch.Alarm[] {
  return [
    serviceMetric(METRIC.refreshNotStarted, {}, { period: ONE_MINUTE }).createAlarm(
      scope,
      'RefresherBehind',
      {
        alarmDescription: `Refresher runs left due keys not started (their 20 s ran out) in ${REFRESHER_BEHIND_RUNS} of the last ${REFRESHER_WINDOW_RUNS} minutes: those keys renew on the request path, one caller waiting each. See "The refresher schedule" in docs/operations.md.`,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: REFRESHER_WINDOW_RUNS,
        datapointsToAlarm: REFRESHER_BEHIND_RUNS,
        // No data: no run (the rule disabled, or the function failing, which FunctionErrors watches).
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    ),
    // A mark that does not verify was written by someone other than the function (or under a replaced
    // counter key): never renewed, but someone with write access to the table is trying something.
    serviceMetric(METRIC.refreshMarksRejected).createAlarm(scope, 'RefreshMarksRejected', {
      alarmDescription:
        'In-use marks (or renewal messages) that do not verify as a whole were refused: not renewed. Either the counter key was replaced (marks of the old key, for one token lifetime) or someone who can write the table or the queue is planting them. See in_use_mark_rejected lines.',
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
    serviceMetric(METRIC.refreshFailed).createAlarm(scope, 'RefreshFailures', {
      alarmDescription: `At least ${REFRESH_FAILURE_THRESHOLD} refresher renewals failed in 5 minutes: their valid tokens stay and the request path renews them, but a provider or its secret is failing for keys in use. See refresh_failed lines.`,
      threshold: REFRESH_FAILURE_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  ];
}

/**
 * Tokens minted in a day: 80 % of the daily pace that spends the provider's `tokenQuota` in its period, or
 * {@link DEFAULT_DAILY_TOKENS} for a provider without one. The quota is the provider's, shared by every
 * region, and an alarm sees its own region's metrics only: with several regions each alarms at its equal
 * share, so that the whole deployment cannot pass the pace without one of them alarming (a region serving
 * alone, after a failover, alarms early).
 */
function tokenPaceAlarm(scope: Construct, provider: ProviderConfig, regionCount: number): cloudwatch.Alarm {
  const quota = provider.tokenQuota;
  const total = quota ? (quota.tokens / quota.periodDays) * 0.8 : DEFAULT_DAILY_TOKENS;
  const daily = Math.max(1, Math.floor(total / regionCount));
  const share = regionCount > 1 ? `this region's 1/${regionCount} share of ` : '';
  const why = quota
    ? `${share}80 % of the pace that spends its quota of ${quota.tokens} tokens per ${quota.periodDays} day(s)`
    : `${share}the default pace for a provider without a tokenQuota: caching should keep minting far below it`;
  return serviceMetric('TokensMinted', { provider: provider.id }, { period: Duration.days(1) }).createAlarm(
    scope,
    `TokenQuota-${provider.id}`,
    {
      alarmDescription: `Provider ${provider.id} issued more than ${daily} tokens in a day: ${why}.`,
      threshold: daily,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
  );
}

function createDashboard(
  scope: Construct,
  { api, handler, providers }: ServiceMonitoringProps,
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
    refresherWidget(),
  );
  for (const provider of providers) {
    const vends = (cache: string) => serviceMetric('Vends', { provider: provider.id, cache });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `${provider.id}: hit ratio`,
        left: [
          new cloudwatch.MathExpression({
            expression: '100 * (memory + table) / (memory + table + miss + refresh)',
            usingMetrics: {
              memory: vends('memory'),
              table: vends('table'),
              miss: vends('miss'),
              refresh: vends('refresh'),
            },
            label: 'hits %',
            period: FIVE_MINUTES,
          }),
        ],
        leftYAxis: { min: 0, max: 100 },
      }),
      new cloudwatch.GraphWidget({
        title: `${provider.id}: upstream latency`,
        left: ['p50', 'p99'].map((statistic) =>
          serviceMetric('UpstreamLatency', { provider: provider.id }, { statistic, label: statistic }),
        ),
      }),
      new cloudwatch.GraphWidget({
        title: `${provider.id}: upstream requests and failures`,
        left: [
          serviceMetric('UpstreamRequests', { provider: provider.id }),
          serviceMetric('UpstreamFailures', { provider: provider.id }),
          serviceMetric('ServedWhileValid', { provider: provider.id }),
          serviceMetric('Throttled', { provider: provider.id }),
        ],
      }),
    );
  }
  return dashboard;
}

/** Each refresher run's keys (one run a minute) and how long it took against its budget. */
function refresherWidget(): cloudwatch.GraphWidget {
  const perRun = (name: string, label: string) => serviceMetric(name, {}, { period: ONE_MINUTE, label });
  return new cloudwatch.GraphWidget({
    title: 'Refresher: keys per run',
    left: [
      perRun(METRIC.refreshRenewed, 'renewed'),
      perRun(METRIC.refreshFailed, 'failed'),
      perRun(METRIC.refreshNotStarted, 'not started (left to the request path)'),
    ],
    right: [
      serviceMetric(
        METRIC.refreshRunDuration,
        {},
        { statistic: 'Maximum', period: ONE_MINUTE, label: 'run (ms)' },
      ),
    ],
    rightAnnotations: [{ value: REFRESH_RUN_BUDGET_MS, label: 'no renewal starts after' }],
    leftYAxis: { min: 0 },
  });
}

/** The questions operators ask of the audit trail, saved in Logs Insights. */
function createQueries(scope: Construct, logGroup: logs.ILogGroup): void {
  const stack = Stack.of(scope).stackName;
  const queries: Array<[string, string, logs.QueryString]> = [
    [
      'WhoVendedWhat',
      'who vended what',
      new logs.QueryString({
        fields: [
          '@timestamp',
          'principal',
          'provider',
          'audience',
          'scopes',
          'min_ttl',
          'cache',
          'token_fingerprint',
          'token_jti',
        ],
        filterStatements: ['message = "request"', 'status = 200', 'route like /POST/'],
        sort: '@timestamp desc',
        limit: 1000,
      }),
    ],
    [
      'UpstreamFailuresByProvider',
      'upstream failures by provider',
      new logs.QueryString({
        fields: ['provider', 'error', 'upstream_error', 'upstream_status'],
        filterStatements: ['error like /upstream_/ or upstream_failure like /upstream_/'],
        statsStatements: ['count(*) as failures by provider, error, upstream_error, upstream_status'],
        sort: 'failures desc',
      }),
    ],
    [
      'Denials',
      'denials',
      new logs.QueryString({
        fields: ['@timestamp', 'principal', 'provider', 'route', 'status'],
        filterStatements: ['error = "access_denied"'],
        statsStatements: ['count(*) as denials by principal, provider'],
        sort: 'denials desc',
      }),
    ],
  ];
  for (const [id, name, queryString] of queries) {
    new logs.QueryDefinition(scope, `Query${id}`, {
      queryDefinitionName: `${stack}/token-vending/${name}`,
      queryString,
      logGroups: [logGroup],
    });
  }
}
