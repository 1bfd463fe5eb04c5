import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { InUseMark } from './in-use-index';
import { type RenewalQueue, renewalBody, renewalDelaySeconds } from './renewal-queue';

/** The renewal queue's URL in the function's environment (set by the stack). */
export const RENEWAL_QUEUE_ENVIRONMENT = 'TVM_RENEWAL_QUEUE_URL';
/** One SQS call, retries included: a hung queue costs a vend's mark or a run's send this long at most. */
export const QUEUE_CALL_TIMEOUT_MS = 1000;
/** SendMessageBatch's own limit. */
const MAX_BATCH_ENTRIES = 10;

/** A client bounded as the table's is: a connect and a socket timeout, and at most one retry. */
export const createQueueClient = (): SQSClient =>
  new SQSClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 500, requestTimeout: 800 } });

/**
 * The renewal queue on SQS: each renewal one message whose `DelaySeconds` is the time to its `renewAt`
 * (at most 900 s), sent ten to a call. The event source mapping delivers them to the function, which
 * answers with the messages to deliver again (`ReportBatchItemFailures`).
 */
export class SqsRenewalQueue implements RenewalQueue {
  constructor(
    private readonly options: {
      readonly client: SQSClient;
      readonly queueUrl: string;
      readonly callTimeoutMs?: number;
    },
  ) {}

  async send(marks: readonly InUseMark[], nowSeconds: number): Promise<readonly InUseMark[]> {
    const refused: InUseMark[] = [];
    for (let start = 0; start < marks.length; start += MAX_BATCH_ENTRIES) {
      const chunk = marks.slice(start, start + MAX_BATCH_ENTRIES);
      const entries: SendMessageBatchRequestEntry[] = chunk.map((mark, index) => ({
        Id: String(index),
        MessageBody: renewalBody(mark),
        DelaySeconds: renewalDelaySeconds(mark, nowSeconds),
      }));
      try {
        const answer = await this.options.client.send(
          new SendMessageBatchCommand({ QueueUrl: this.options.queueUrl, Entries: entries }),
          { abortSignal: AbortSignal.timeout(this.options.callTimeoutMs ?? QUEUE_CALL_TIMEOUT_MS) },
        );
        for (const failed of answer.Failed ?? []) {
          const mark = chunk[Number(failed.Id)];
          if (mark) refused.push(mark);
        }
      } catch {
        // The call failed or hung: none of the chunk is known to be queued (a duplicate costs one read).
        refused.push(...chunk);
      }
    }
    return refused;
  }

  /**
   * Makes a delivered message visible again in `seconds` (a held lease, a provider's backoff) rather than
   * after the queue's visibility timeout. False when SQS did not take it: the timeout then applies.
   */
  async retryIn(receiptHandle: string, seconds: number): Promise<boolean> {
    try {
      await this.options.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.options.queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: Math.min(Math.max(0, Math.ceil(seconds)), 43_200),
        }),
        { abortSignal: AbortSignal.timeout(this.options.callTimeoutMs ?? QUEUE_CALL_TIMEOUT_MS) },
      );
      return true;
    } catch {
      return false;
    }
  }
}
