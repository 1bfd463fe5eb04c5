/**
 * The accounts a `"*"` caller entry admits: the stack's own, or the settings' `allowedAccounts`. The construct
 * sets the variable, comma-separated; the function refuses to start without it. Imports nothing: the construct
 * reads the name from here.
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
