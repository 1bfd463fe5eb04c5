import { Arn, ArnFormat } from 'aws-cdk-lib';

/**
 * Region names as AWS spells them (`eu-north-1`, `us-gov-west-1`, `ap-southeast-5`, `us-isob-east-1`): a
 * typo such as `eu-nort-1` or `eu-west` fails synth instead of a deploy in the wrong place.
 */
const REGION_NAME = /^[a-z]{2}(?:-gov|-iso[a-z]?)?-(?:north|south|east|west|central)(?:east|west)?-\d{1,2}$/;

/** What is wrong with a deployment's `regions` (primary first), one line per problem; none when it is fine. */
export function regionsProblems(regions: unknown): string[] {
  if (!Array.isArray(regions)) return ['regions: must be a list of region names, the primary first'];
  if (regions.length === 0) return ['regions: name at least one region (the first is the primary)'];
  const problems: string[] = [];
  const seen = new Set<unknown>();
  for (const region of regions) {
    if (typeof region !== 'string' || !REGION_NAME.test(region)) {
      problems.push(`regions: ${JSON.stringify(region)} is not a region name (like eu-north-1)`);
    } else if (seen.has(region)) {
      problems.push(`regions: ${region} is named twice`);
    }
    seen.add(region);
  }
  return problems;
}

/** Several regions: one whole service per region over one global table. One region is a plain deployment. */
export const isMultiRegion = (regions: readonly string[] | undefined): regions is readonly string[] =>
  regions !== undefined && regions.length > 1;

/**
 * The global table's name, the same in every region: each region's stack names it without a reference to
 * the primary's.
 */
export const globalTableName = (environment: string): string => `token-vending-${environment}`;

/** The counter key's name, so the other regions read their replica by name. */
export const counterKeySecretName = (environment: string): string =>
  // Ends in `-key`, never a dash and six characters: a partial ARN of it cannot be mistaken for a complete one.
  `token-vending/${environment}/caller-counter-key`;

/**
 * The function role's name in one region of a multi-Region deployment (the primary region's stack makes
 * every region's role). At most 14 + 32 + 1 + 14 characters: inside IAM's 64.
 */
export const functionRoleName = (environment: string, region: string): string =>
  `token-vending-${environment}-${region}`;

/**
 * The same ARN in another region: what a replica is called (a replicated secret, a multi-Region key's
 * replica: AWS keeps everything but the region). Names and tokens are returned as given.
 */
export function inRegion(arnOrName: string, region: string): string {
  if (!arnOrName.startsWith('arn:')) return arnOrName;
  const parts = arnOrName.split(':');
  parts[3] = region;
  return parts.join(':');
}

/** A KMS key ARN whose key is a multi-Region key (`key/mrk-…`), which has a replica of that ARN per region. */
export const isMultiRegionKeyArn = (arn: string): boolean => {
  try {
    return Arn.split(arn, ArnFormat.SLASH_RESOURCE_NAME).resourceName?.startsWith('mrk-') === true;
  } catch {
    return false;
  }
};
