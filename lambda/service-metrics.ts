import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { EVENTS, METRIC } from './contracts/metrics';
import type { Log } from './logging';
import type { RenewalBatch } from './refresh/renewal-worker';
import type { RefreshRun, RefreshRunMetrics } from './refresher';

export { METRICS_NAMESPACE, METRICS_SERVICE } from './contracts/metrics';

/** The fields of the handler's request line that metrics are made from. */
export interface RequestLine {
  readonly provider?: string;
  readonly route?: string;
  readonly status: number;
  readonly cache?: string;
  /** A table hit on another region's item: that region. */
  readonly peer_region?: string;
  readonly error?: string;
  readonly upstream_attempts?: number;
  readonly upstream_latency_ms?: number;
  readonly upstream_failure?: string;
}

/**
 * Metrics per provider in CloudWatch EMF, through Powertools Metrics: written to the log with the request,
 * no API call, published after every request and every refresher run. Dimensions stay low-cardinality:
 * `service`, `provider` (only a configured provider's id; anything else is `other`), `cache` and an error
 * `code`; never a caller, a key or a scope.
 *
 * | metric | dimensions | counts |
 * |---|---|---|
 * | `Vends` | provider, cache | tokens handed out, by where they came from (memory, table, miss, refresh) |
 * | `UpstreamRequests` | provider | requests to the provider, retries included |
 * | `UpstreamLatency` | provider | how long a grant took (ms), all attempts |
 * | `TokensMinted` | provider | tokens the provider issued (what a monthly quota counts), refresher renewals too |
 * | `UpstreamFailures` | provider; provider, code | failed or masked provider exchanges, by error code |
 * | `ServedWhileValid` | provider | a cached token served because the provider failed |
 * | `TableErrors`, `TableTimeouts` | (service) | table calls that failed (and of those, hung) and were bypassed |
 * | `SealingFailures` | (service) | KMS calls that failed to seal or open; the table is then bypassed for a window |
 * | `Throttled` | provider | vends refused because an upstream budget was spent |
 * | `Denials` | (service) | 403 `access_denied` |
 * | `PeerTableHits` | provider | table hits served from another region's replicated item |
 * | `RefreshDue`, `RefreshRenewed`, `RefreshFailed` | (service) | per refresher run: keys due, renewed, whose renewal failed |
 * | `RefreshNotStarted` | (service) | per refresher run: due keys left to the request path when its 20 s ran out |
 * | `RefreshRunDuration` | (service) | how long a refresher run took (ms) |
 */
export class ServiceMetrics implements RefreshRunMetrics {
  private tableErrors = 0;
  private tableTimeouts = 0;
  private sealingFailures = 0;
  private servedWhileValid = 0;

  constructor(
    private readonly metrics: Metrics,
    private readonly providerIds: ReadonlySet<string>,
  ) {}

  /** The log, watched: table errors and serving while valid are counted where they are logged. */
  observe(log: Log): Log {
    const watch = (attributes: Record<string, unknown>[]) => {
      for (const fields of attributes) {
        if (fields.event === EVENTS.cacheTableError) {
          this.tableErrors += 1;
          if (fields.timed_out === true) this.tableTimeouts += 1;
        }
        if (fields.event === EVENTS.sealingUnavailable) this.sealingFailures += 1;
        if (fields.event === EVENTS.servedWhileValid) this.servedWhileValid += 1;
      }
    };
    return {
      info: (message, ...attributes) => log.info(message, ...attributes),
      warn: (message, ...attributes) => {
        watch(attributes);
        log.warn(message, ...attributes);
      },
      error: (message, ...attributes) => {
        watch(attributes);
        log.error(message, ...attributes);
      },
    };
  }

  /** Records one request and publishes everything it caused, as EMF documents on stdout. */
  request(line: RequestLine): void {
    const provider =
      line.provider !== undefined && this.providerIds.has(line.provider) ? line.provider : 'other';
    if (line.status === 403) this.single({}, 'Denials', MetricUnit.Count, 1);
    if (line.status === 200 && line.cache) {
      this.single({ provider, cache: line.cache }, 'Vends', MetricUnit.Count, 1);
    }
    // The provider's failures only: a spent budget or a Secrets Manager outage is not the provider's doing.
    const failure = [line.upstream_failure, line.error].find((code) => code?.startsWith('upstream_'));
    if (failure) {
      this.single({ provider }, 'UpstreamFailures', MetricUnit.Count, 1);
      this.single({ provider, code: failure }, 'UpstreamFailures', MetricUnit.Count, 1);
    }
    type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];
    const perProvider: Array<[string, Unit, number]> = [];
    if (line.upstream_attempts) {
      perProvider.push(['UpstreamRequests', MetricUnit.Count, line.upstream_attempts]);
      if (line.upstream_latency_ms !== undefined) {
        perProvider.push(['UpstreamLatency', MetricUnit.Milliseconds, line.upstream_latency_ms]);
      }
      const minted = line.status === 200 && (line.cache === 'miss' || line.cache === 'refresh');
      if (minted && !line.upstream_failure) perProvider.push(['TokensMinted', MetricUnit.Count, 1]);
    }
    if (line.error === 'throttled') perProvider.push(['Throttled', MetricUnit.Count, 1]);
    if (line.status === 200 && line.cache === 'table' && line.peer_region !== undefined) {
      perProvider.push([METRIC.peerTableHits, MetricUnit.Count, 1]);
    }
    if (this.servedWhileValid > 0) {
      perProvider.push(['ServedWhileValid', MetricUnit.Count, this.servedWhileValid]);
    }
    this.publishServiceCounters();
    this.servedWhileValid = 0;
    // One document for this request's provider metrics, and none when there are none: Powertools would
    // otherwise warn, on every request, that it had nothing to publish.
    if (perProvider.length === 0) return;
    this.metrics.addDimension('provider', provider);
    for (const [name, unit, value] of perProvider) this.metrics.addMetric(name, unit, value);
    this.metrics.publishStoredMetrics();
    this.metrics.clearDimensions();
  }

  /**
   * Records one refresher run: its counts for the service (one document, zeros too, so that a run that kept
   * up shows as 0 rather than as no data), the tokens its renewals minted per provider, and the table and
   * key service errors it met, which would otherwise wait for this container's next request.
   */
  refreshRun({ report, durationMs, renewedByProvider }: RefreshRun): void {
    this.publishServiceCounters();
    this.publishMinted(renewedByProvider);
    if (!report) return;
    this.metrics.addMetric(METRIC.refreshDue, MetricUnit.Count, report.due);
    this.metrics.addMetric(METRIC.refreshQueued, MetricUnit.Count, report.queued);
    this.metrics.addMetric(METRIC.refreshRenewed, MetricUnit.Count, report.renewed);
    this.metrics.addMetric(METRIC.refreshFailed, MetricUnit.Count, report.failed);
    this.metrics.addMetric(METRIC.refreshNotStarted, MetricUnit.Count, report.not_started);
    this.metrics.addMetric(METRIC.refreshMarksRejected, MetricUnit.Count, report.rejected);
    this.metrics.addMetric(METRIC.refreshRunDuration, MetricUnit.Milliseconds, durationMs);
    this.metrics.publishStoredMetrics();
  }

  /** One batch of renewals the queue delivered: what it renewed, failed, refused; no RefreshDue (not a run). */
  renewalBatch({ counts, renewedByProvider }: RenewalBatch): void {
    this.publishServiceCounters();
    this.publishMinted(renewedByProvider);
    this.metrics.addMetric(METRIC.refreshRenewed, MetricUnit.Count, counts.renewed);
    this.metrics.addMetric(METRIC.refreshFailed, MetricUnit.Count, counts.failed);
    this.metrics.addMetric(METRIC.refreshNotStarted, MetricUnit.Count, counts.not_started);
    this.metrics.addMetric(METRIC.refreshMarksRejected, MetricUnit.Count, counts.rejected);
    this.metrics.publishStoredMetrics();
  }

  private publishMinted(renewedByProvider: ReadonlyMap<string, number>): void {
    const minted = new Map<string, number>();
    for (const [providerId, renewed] of renewedByProvider) {
      const provider = this.providerIds.has(providerId) ? providerId : 'other';
      minted.set(provider, (minted.get(provider) ?? 0) + renewed);
    }
    for (const [provider, tokens] of minted) {
      this.metrics.addDimension('provider', provider);
      this.metrics.addMetric(METRIC.tokensMinted, MetricUnit.Count, tokens);
      this.metrics.publishStoredMetrics();
      this.metrics.clearDimensions();
    }
  }

  /** The table is one for all providers: its errors are counted for the service, which the bypass alarm watches. */
  private publishServiceCounters(): void {
    if (this.tableErrors > 0) this.single({}, 'TableErrors', MetricUnit.Count, this.tableErrors);
    if (this.tableTimeouts > 0) this.single({}, 'TableTimeouts', MetricUnit.Count, this.tableTimeouts);
    if (this.sealingFailures > 0) {
      this.single({}, METRIC.sealingFailures, MetricUnit.Count, this.sealingFailures);
    }
    this.tableErrors = 0;
    this.tableTimeouts = 0;
    this.sealingFailures = 0;
  }

  private single(
    dimensions: Record<string, string>,
    name: string,
    unit: (typeof MetricUnit)[keyof typeof MetricUnit],
    value: number,
  ): void {
    const metric = this.metrics.singleMetric();
    if (Object.keys(dimensions).length > 0) metric.addDimensions(dimensions);
    metric.addMetric(name, unit, value);
  }
}
