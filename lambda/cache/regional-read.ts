import { BatchGetItemCommand } from '@aws-sdk/client-dynamodb';
import type { PeerItemKey } from '../contracts/region-owned-items';
import { TOKEN_TABLE } from '../contracts/token-table';
import type { ParsedItem, RawItem, Reading } from './table-item';
import type { TableItems } from './table-items';

/** Rounds of one read across regions: the keys BatchGetItem left unprocessed (throttling) are asked once more. */
const MAX_READ_ROUNDS = 2;

/** Another region's item of the key, as replicated here. */
export interface PeerItem {
  readonly region: string;
  readonly item: ParsedItem;
}

/** An unprocessed own item after every round: as good as a throttled read for the caller. */
class UnreadItemError extends Error {
  override readonly name = 'ProvisionedThroughputExceededException';
}

/**
 * The own item and the other regions' items of the key in one BatchGetItem, each bounded. The own item
 * read strongly consistent, as `get`; the others are replicas, as fresh as replication made them. A peer
 * item left unprocessed is left out (a miss costs this region its own fetch); the own one is not. What the
 * peers' items mean is the peer rule's to say.
 */
export async function readAcrossRegions(
  items: TableItems,
  key: string,
): Promise<{ own: Reading; peers: PeerItem[] }> {
  const { keys, tableName } = items;
  const ownKey = keys.own(key);
  const peerKeys: PeerItemKey[] = keys.peers(key);
  const found = new Map<string, RawItem>();
  let pending = [ownKey, ...peerKeys.map((peer) => peer.partitionKey)];
  for (let round = 1; round <= MAX_READ_ROUNDS && pending.length > 0; round++) {
    const batch = pending.map((partitionKey) => ({ [TOKEN_TABLE.partitionKey]: { S: partitionKey } }));
    const answer = await items.bounded('get', (abortSignal) =>
      items.client.send(
        new BatchGetItemCommand({
          RequestItems: { [tableName]: { Keys: batch, ConsistentRead: true } },
        }),
        { abortSignal },
      ),
    );
    for (const raw of answer.Responses?.[tableName] ?? []) {
      const partitionKey = raw[TOKEN_TABLE.partitionKey]?.S;
      if (partitionKey !== undefined) found.set(partitionKey, raw);
    }
    pending = (answer.UnprocessedKeys?.[tableName]?.Keys ?? []).flatMap((unread) => {
      const partitionKey = unread[TOKEN_TABLE.partitionKey]?.S;
      return partitionKey === undefined ? [] : [partitionKey];
    });
  }
  if (pending.includes(ownKey)) throw new UnreadItemError('the own item was left unprocessed');
  const peers = peerKeys.flatMap(({ region, partitionKey }): PeerItem[] => {
    const item = items.reading(partitionKey, found.get(partitionKey)).item;
    return item ? [{ region, item }] : [];
  });
  return { own: items.reading(ownKey, found.get(ownKey)), peers };
}
