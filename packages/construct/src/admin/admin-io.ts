import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SignerFactory } from '../../../../lambda/oauth/signing-keys';

/** Where a command writes, and the environment it reads (`TVM_PROVIDERS`). */
export interface AdminIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The AWS clients the commands make, each only when a command needs it (`secret check` makes none), and a
 * stand-in for KMS: this repository's local run signs with keys on disk, and `npm run secret -- public-key
 * --env local` prints those. Tests give clients on loopback stand-ins.
 */
export interface AdminOptions {
  readonly secretsManager?: () => SecretsManagerClient;
  readonly kms?: () => KMSClient;
  /** Signers for an environment whose keys are not in KMS; `undefined` for KMS. */
  readonly signers?: (environment: string) => SignerFactory | undefined;
}

/** A usage error: one line, exit 2. */
export class UsageError extends Error {}

/** Node's argument parser explains itself at length, and in its own words: one line in ours. */
export function usageMessage(error: Error & { code?: string }): string {
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'(-[^']+)'/.exec(error.message)?.[1] ?? 'an option';
    return `unknown option ${option}`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /'(-[^' ]+)/.exec(error.message)?.[1] ?? 'an option';
    return `${option} needs a value`;
  }
  if (error.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return 'one provider only';
  return error.message.split('\n')[0] ?? error.message;
}

/** `--providers`, else `TVM_PROVIDERS`: the adopter's own providers file, as its app reads it. */
export function providersFileOf(given: string | undefined, io: AdminIo): string {
  const file = given ?? io.env?.TVM_PROVIDERS;
  if (!file) throw new UsageError('--providers <file> is required (or set TVM_PROVIDERS)');
  return file;
}
