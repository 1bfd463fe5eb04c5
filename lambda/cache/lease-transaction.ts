import { TransactionCanceledException, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import type { TableCharge } from '../contracts/token-table';
import { type ItemWrite, namesFor, type TableItems, type WriteResult } from './table-items';

/** What the lease's transaction came to: the lease's own answer, a charge's refusal, or nothing decided. */
export type LeaseTransaction = WriteResult | { refused: Error } | { undecided: true };

/**
 * The lease's write and its charges in one TransactWriteItems, each with its condition: the lease's refusal
 * (the item changed) as a plain write's, with the item as it is now; a charge's refusal as its caller's
 * error. Anything else that cancels it (another transaction on a counter at that moment, a counter this
 * service never wrote) decides nothing: `undecided`, and the lease is taken alone, its holder charged after.
 */
export async function leaseWithCharges(
  items: TableItems,
  key: string,
  write: ItemWrite,
  charges: readonly TableCharge[],
): Promise<LeaseTransaction> {
  try {
    await items.bounded('lease', (abortSignal) =>
      items.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Update: {
                ...items.address(key),
                UpdateExpression: write.update,
                ConditionExpression: write.condition,
                ExpressionAttributeNames: namesFor(write.update, write.condition),
                ExpressionAttributeValues: write.values,
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            ...charges.map((charge) => ({ Update: charge.update })),
          ],
        }),
        { abortSignal },
      ),
    );
    return { applied: true };
  } catch (error) {
    if (!(error instanceof TransactionCanceledException)) throw error;
    const [lease, ...charged] = error.CancellationReasons ?? [];
    if (lease?.Code === 'ConditionalCheckFailed') {
      return lease.Item ? { applied: false, current: lease.Item } : { applied: false };
    }
    for (const [index, charge] of charges.entries()) {
      const reason = charged[index];
      if (reason?.Code !== 'ConditionalCheckFailed') continue;
      const refused = charge.refusal(reason.Item);
      if (refused) return { refused };
    }
    return { undecided: true };
  }
}
