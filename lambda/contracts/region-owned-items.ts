import { ConfigurationError } from '../errors';

/**
 * The region-owned item rule, written once for every writer of the token table (the tier, the budget ledger,
 * the in-use index). A global table replicates asynchronously and settles a conflict by last writer wins:
 * an item two regions write loses one region's write (a lease, a counted spend, a mark). So with several
 * regions every item the function writes has a partition key naming its region, `<region>#<name>`, and only
 * that region's function writes it; the other regions only read their replicated copy. Without regions the
 * partition key is the name alone: the single-region layout is exactly what it was.
 */

/** Every region of the deployment, comma-separated, primary first; set by the stack only with several. */
export const REGIONS_ENVIRONMENT = 'TVM_REGIONS';

/** A region's name as AWS spells it (`eu-north-1`, `us-gov-west-1`): nothing else ever reaches a key. */
const REGION_NAME = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
/** Between a key's region and its name. No region name contains it. */
const SEPARATOR = '#';

/** The regions as the function sees them: its own, whose items it writes, and the others, whose items it reads. */
export interface TableRegions {
  readonly own: string;
  /** The deployment's other regions, in the order the deployment names them. */
  readonly peers: readonly string[];
}

/**
 * `TVM_REGIONS` and `AWS_REGION`, checked at cold start: undefined when `TVM_REGIONS` is unset (one region);
 * a {@link ConfigurationError} for a list that is not two or more distinct region names, or that does not
 * name the function's own region (its items would carry a region no reader looks for).
 */
export function parseTableRegions(
  regionsSetting: string | undefined,
  ownRegion: string | undefined,
): TableRegions | undefined {
  if (regionsSetting === undefined || regionsSetting.trim() === '') return undefined;
  const regions = regionsSetting.split(',').map((region) => region.trim());
  const invalid = regions.filter((region) => !REGION_NAME.test(region));
  if (invalid.length > 0) {
    throw new ConfigurationError(
      `${REGIONS_ENVIRONMENT} names ${invalid.length} entr${invalid.length === 1 ? 'y' : 'ies'} that ${invalid.length === 1 ? 'is' : 'are'} not a region name (expected e.g. "eu-north-1,eu-west-1")`,
    );
  }
  if (new Set(regions).size !== regions.length) {
    throw new ConfigurationError(`${REGIONS_ENVIRONMENT} names a region twice`);
  }
  if (regions.length < 2) {
    throw new ConfigurationError(
      `${REGIONS_ENVIRONMENT} names one region; leave it unset for a single-region deployment`,
    );
  }
  if (ownRegion === undefined || !regions.includes(ownRegion)) {
    throw new ConfigurationError(
      `AWS_REGION (${ownRegion === undefined ? 'unset' : JSON.stringify(ownRegion).slice(0, 40)}) is not one of ${REGIONS_ENVIRONMENT} (${regions.join(', ')})`,
    );
  }
  return { own: ownRegion, peers: regions.filter((region) => region !== ownRegion) };
}

/** A peer region's item of one name: where the replicated copy of that region's write is read. */
export interface PeerItemKey {
  readonly region: string;
  readonly partitionKey: string;
}

/** The partition keys of items of one name: the own region's (the one written) and the peers' (read only). */
export class RegionOwnedKeys {
  constructor(private readonly regions?: TableRegions) {}

  /** Whether other regions' items exist to be read at all. */
  get hasPeers(): boolean {
    return (this.regions?.peers.length ?? 0) > 0;
  }

  /** The partition key of the item this function writes for `name`. */
  own(name: string): string {
    return this.regions ? regionKey(this.regions.own, name) : name;
  }

  /** The other regions' items of `name`; none without regions. */
  peers(name: string): PeerItemKey[] {
    return (this.regions?.peers ?? []).map((region) => ({ region, partitionKey: regionKey(region, name) }));
  }
}

const regionKey = (region: string, name: string): string => `${region}${SEPARATOR}${name}`;
