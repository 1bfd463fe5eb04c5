/**
 * The accounts a `"*"` caller entry admits: the stack's own, or the settings' `allowedAccounts`, in the
 * function's own partition ({@link partitionOfRegion}). The construct sets the variable, comma-separated; the
 * function refuses to start without it. Imports nothing: the construct reads the name from here.
 */
export const ANY_CALLER_ACCOUNTS_ENVIRONMENT = 'TVM_ANY_CALLER_ACCOUNTS';

const ACCOUNT = /^\d{12}$/;

/** The accounts in the variable's value; throws on anything but one or more 12-digit account ids. */
export function parseAnyCallerAccounts(value: string | undefined): string[] {
  const accounts = (value ?? '').split(',').map((account) => account.trim());
  if (accounts.length === 0 || !accounts.every((account) => ACCOUNT.test(account))) {
    throw new Error(
      `${ANY_CALLER_ACCOUNTS_ENVIRONMENT} must be one or more 12-digit account ids, comma-separated (got ${JSON.stringify(value ?? null)})`,
    );
  }
  return [...new Set(accounts)];
}

/** The partition of every region whose name does not say another: a principal's ARN names it (`arn:aws:…`). */
export const DEFAULT_PARTITION = 'aws';

/**
 * The partition of `region` (the function's own, `AWS_REGION`): `cn-…` is `aws-cn`, `us-gov-…` `aws-us-gov`,
 * `eusc-…` `aws-eusc`, `us-iso-…` `aws-iso`, `us-isob-…` `aws-iso-b` (and so on for each `iso<letter>`);
 * anything else, or no region, {@link DEFAULT_PARTITION}. The accounts a `"*"` entry admits are accounts of
 * this partition alone: an account id is unique only within its partition.
 */
export function partitionOfRegion(region: string | undefined): string {
  if (region === undefined) return DEFAULT_PARTITION;
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('eusc-')) return 'aws-eusc';
  const iso = /^[a-z]{2}-iso([a-z]?)-/.exec(region);
  if (iso) return iso[1] ? `aws-iso-${iso[1]}` : 'aws-iso';
  return DEFAULT_PARTITION;
}

/**
 * The accounts as the function admits them under `"*"`: each qualified by its partition
 * (`aws-us-gov:111122223333`), so that a principal of the same account id in another partition is not one of
 * them. A bare account id (the local run, tests) is one of the `aws` partition.
 */
export function accountsInPartition(accounts: readonly string[], partition: string): string[] {
  return accounts.map((account) => `${partition}:${account}`);
}
