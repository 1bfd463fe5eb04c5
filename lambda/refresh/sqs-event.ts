import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { RenewalConsumer } from './renewal-queue';

/**
 * The event the renewal queue's event source mapping delivers: records from `aws:sqs` only. Anything
 * with API Gateway's fields is a vend request, and a scheduled event has no `Records`.
 */
export function isSqsEvent(event: unknown): event is SQSEvent {
  if (typeof event !== 'object' || event === null) return false;
  const fields = event as Record<string, unknown>;
  if ('httpMethod' in fields || 'requestContext' in fields) return false;
  const records = fields.Records;
  return (
    Array.isArray(records) &&
    records.length > 0 &&
    records.every(
      (record) =>
        typeof record === 'object' &&
        record !== null &&
        (record as Record<string, unknown>).eventSource === 'aws:sqs' &&
        typeof (record as Record<string, unknown>).body === 'string' &&
        typeof (record as Record<string, unknown>).messageId === 'string',
    )
  );
}

/** Makes one delivered message visible again after `seconds`. */
export interface VisibilityPort {
  retryIn(receiptHandle: string, seconds: number): Promise<boolean>;
}

/**
 * Renews a delivered batch and answers with the messages to deliver again (partial batch failures): a
 * retry with its own time first has its visibility set to that time, so SQS delivers it then.
 */
export async function renewDelivered(
  event: SQSEvent,
  consumer: RenewalConsumer,
  visibility: VisibilityPort,
  remainingMs?: () => number,
): Promise<SQSBatchResponse> {
  const verdicts = await consumer.renewBatch(
    event.Records.map((record) => record.body),
    remainingMs ? { remainingMs } : {},
  );
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  await Promise.all(
    event.Records.map(async (record, index) => {
      const verdict = verdicts[index] ?? { kind: 'retry' };
      if (verdict.kind === 'done') return;
      if (verdict.afterSeconds !== undefined)
        await visibility.retryIn(record.receiptHandle, verdict.afterSeconds);
      failures.push({ itemIdentifier: record.messageId });
    }),
  );
  return { batchItemFailures: failures };
}
