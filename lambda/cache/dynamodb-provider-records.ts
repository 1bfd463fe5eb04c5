import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { ProviderRecord } from '../backoff-policy';
import { type Clock, systemClock } from '../clock';
import { RegionOwnedKeys, type TableRegions } from '../contracts/region-owned-items';
import {
  boundedTableCall,
  PROVIDER_BACKOFF_ITEM,
  TABLE_CALL_TIMEOUT_MS,
  TOKEN_TABLE,
} from '../contracts/token-table';
import { ERROR_STATUS, type ErrorCode } from '../errors';
import type { ProviderRecords } from '../lease/provider-backoff';
import { MAX_WRITE_ATTEMPTS, WRITE_RETRY_PAUSE_MS } from './table-items';

type RawItem = Record<string, AttributeValue>;

/** A record goes by TTL this long after its last write: a provider's failures do not linger. */
const RECORD_TTL_SECONDS = 3600;

const A = PROVIDER_BACKOFF_ITEM;

export interface DynamoDbProviderRecordsOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly callTimeoutMs?: number;
  readonly clock?: Clock;
  /** The deployment's regions: the record is the own region's item (backoff is per region). */
  readonly regions?: TableRegions;
}

const isErrorCode = (value: string): value is ErrorCode => Object.hasOwn(ERROR_STATUS, value);

/**
 * Reads a record by type as this service writes it; a record with anything else in it reads as absent
 * (nobody of this service wrote it) and is overwritten by the next write.
 */
function readRecord(raw: RawItem | undefined): ProviderRecord | undefined {
  if (!raw) return undefined;
  const number = (name: string): number | undefined | null => {
    const value = raw[name];
    if (value === undefined) return undefined;
    const parsed = value.N === undefined ? Number.NaN : Number(value.N);
    return Number.isFinite(parsed) && parsed >= 0 ? parsed : null;
  };
  const failures = number(A.failures);
  const retryAtMs = number(A.retryAt);
  const probeUntilMs = number(A.probeUntil);
  const lastError = raw[A.lastError]?.S;
  const probeOwner = raw[A.probeOwner]?.S;
  if (failures === null || retryAtMs === null || probeUntilMs === null) return undefined;
  if (!Number.isInteger(failures ?? 0)) return undefined;
  if (lastError !== undefined && !isErrorCode(lastError)) return undefined;
  return {
    failures: failures ?? 0,
    retryAtMs: retryAtMs ?? 0,
    ...(lastError === undefined ? {} : { lastError }),
    ...(probeOwner === undefined || probeUntilMs === undefined ? {} : { probeOwner, probeUntilMs }),
  };
}

/**
 * A provider's backoff record on the token table: one item per provider (`backoff#<provider id>`, with
 * several regions the own region's `<region>#backoff#<provider id>`: backoff is per region, as the key's
 * lease is). Every write names the revision read (`rev`), as the tier's writes do.
 */
export class DynamoDbProviderRecords implements ProviderRecords {
  private readonly keys: RegionOwnedKeys;
  private readonly callTimeoutMs: number;
  private readonly clock: Clock;

  constructor(private readonly options: DynamoDbProviderRecordsOptions) {
    this.keys = new RegionOwnedKeys(options.regions);
    this.callTimeoutMs = options.callTimeoutMs ?? TABLE_CALL_TIMEOUT_MS;
    this.clock = options.clock ?? systemClock;
  }

  async read(providerId: string): Promise<ProviderRecord | undefined> {
    return readRecord(await this.get(providerId));
  }

  async update(
    providerId: string,
    change: (current: ProviderRecord | undefined) => ProviderRecord | 'clear' | undefined,
  ): Promise<ProviderRecord | undefined> {
    let raw = await this.get(providerId);
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const current = readRecord(raw);
      const next = change(current);
      if (next === undefined) return current;
      const refused = await this.write(providerId, raw, next);
      if (refused === undefined) return next === 'clear' ? undefined : next;
      raw = refused.current;
      await this.clock.sleep(WRITE_RETRY_PAUSE_MS * attempt);
    }
    return readRecord(raw);
  }

  /** One conditional write on the revision read; undefined when it applied, else the item as it is now. */
  private async write(
    providerId: string,
    raw: RawItem | undefined,
    next: ProviderRecord | 'clear',
  ): Promise<{ current: RawItem | undefined } | undefined> {
    const revision = raw?.[A.revision];
    // A revision of another type (not written here) cannot be compared: the item is overwritten as found.
    const seen: { condition: string; values: RawItem } =
      raw === undefined
        ? { condition: 'attribute_not_exists(#pk)', values: {} }
        : typeof revision?.S === 'string'
          ? { condition: '#rev = :seen', values: { ':seen': revision } }
          : { condition: 'attribute_exists(#pk)', values: {} };
    const record = next === 'clear' ? { failures: 0, retryAtMs: 0 } : next;
    const set = ['#failures = :failures', '#retryAt = :retryAt', '#rev = :rev', '#ttl = :ttl'];
    const remove: string[] = [];
    const values: RawItem = {
      ...seen.values,
      ':failures': { N: String(record.failures) },
      ':retryAt': { N: String(record.retryAtMs) },
      ':rev': { S: randomUUID() },
      ':ttl': { N: String(Math.floor(this.clock.now() / 1000) + RECORD_TTL_SECONDS) },
    };
    if (record.lastError === undefined) remove.push('#lastError');
    else {
      set.push('#lastError = :lastError');
      values[':lastError'] = { S: record.lastError };
    }
    if (record.probeOwner === undefined || record.probeUntilMs === undefined)
      remove.push('#probeOwner', '#probeUntil');
    else {
      set.push('#probeOwner = :probeOwner', '#probeUntil = :probeUntil');
      values[':probeOwner'] = { S: record.probeOwner };
      values[':probeUntil'] = { N: String(record.probeUntilMs) };
    }
    try {
      await boundedTableCall('backoff', this.callTimeoutMs, (abortSignal) =>
        this.options.client.send(
          new UpdateItemCommand({
            TableName: this.options.tableName,
            Key: this.address(providerId),
            UpdateExpression: `SET ${set.join(', ')}${remove.length > 0 ? ` REMOVE ${remove.join(', ')}` : ''}`,
            ConditionExpression: seen.condition,
            ExpressionAttributeNames: {
              ...(seen.condition.includes('#pk') ? { '#pk': TOKEN_TABLE.partitionKey } : {}),
              '#failures': A.failures,
              '#retryAt': A.retryAt,
              '#rev': A.revision,
              '#ttl': TOKEN_TABLE.ttlAttribute,
              '#lastError': A.lastError,
              '#probeOwner': A.probeOwner,
              '#probeUntil': A.probeUntil,
            },
            ExpressionAttributeValues: values,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
          { abortSignal },
        ),
      );
      return undefined;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return { current: error.Item };
    }
  }

  private async get(providerId: string): Promise<RawItem | undefined> {
    const { Item } = await boundedTableCall('backoff', this.callTimeoutMs, (abortSignal) =>
      this.options.client.send(
        new GetItemCommand({
          TableName: this.options.tableName,
          Key: this.address(providerId),
          ConsistentRead: true,
        }),
        { abortSignal },
      ),
    );
    return Item;
  }

  private address(providerId: string): RawItem {
    return { [TOKEN_TABLE.partitionKey]: { S: this.keys.own(`${A.keyPrefix}${providerId}`) } };
  }
}
