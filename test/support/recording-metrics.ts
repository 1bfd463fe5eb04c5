import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, METRICS_SERVICE } from '../../lambda/contracts/metrics';

/** One CloudWatch EMF document as Powertools serializes it. */
export type EmfDocument = Record<string, unknown> & {
  _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: unknown[] }> };
};

/**
 * Powertools Metrics that keeps each document it would print (the same serialization, the service's
 * namespace and service name) instead of writing it to stdout, where jest would not see it.
 */
export class RecordingMetrics extends Metrics {
  constructor(
    readonly documents: EmfDocument[] = [],
    single = false,
  ) {
    super({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE, singleMetric: single });
  }

  /** A single metric (published as it is added) that keeps its document with this one's. */
  override singleMetric(): Metrics {
    return new RecordingMetrics(this.documents, true);
  }

  override publishStoredMetrics(): this {
    if (this.hasStoredMetrics()) this.documents.push(this.serializeMetrics() as unknown as EmfDocument);
    this.clearMetrics();
    this.clearDimensions();
    this.clearMetadata();
    return this;
  }

  /** The documents that carry `name`, in order. */
  carrying(name: string): EmfDocument[] {
    return this.documents.filter((document) => document[name] !== undefined);
  }
}
