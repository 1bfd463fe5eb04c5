/**
 * The settings of a {@link TokenVendingService} are wrong: every problem, one per line, no stack trace
 * needed to read it. An app prints `message` and exits 1 (this repository's `infra/app.ts` does).
 */
export class TokenVendingSettingsError extends Error {
  override readonly name = 'TokenVendingSettingsError';

  constructor(
    readonly path: string,
    readonly problems: readonly string[],
  ) {
    super(
      `${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the settings:\n  - ${problems.join('\n  - ')}`,
    );
  }
}
