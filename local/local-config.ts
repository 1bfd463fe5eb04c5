import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseProviderConfig } from '../lambda/config/load-providers';
import type { ProviderConfig } from '../lambda/config/provider-schema';
import { ANY_CALLER_ACCOUNTS_ENVIRONMENT, parseAnyCallerAccounts } from '../lambda/contracts/caller-accounts';
import { ConfigurationError } from '../lambda/errors';
import { LOCAL_API_ACCOUNT } from './proxy-event';
import { SEALING_KEY_PROBLEM, sealingKeyFrom } from './sealing';
import type { CallerKey } from './sigv4-verifier';

/** The local run's settings, from docs/DESIGN.md's table of variables. */
export interface LocalSettings {
  readonly port: number;
  readonly providersFile?: string;
  readonly secretsFile?: string;
  readonly callersFile?: string;
  readonly dynamoDbEndpoint?: string;
  readonly tableName: string;
  /** The region callers sign for (a second local run stands in for another region). @default AWS_REGION, else us-east-1 */
  readonly region?: string;
  /** How often the refresher runs. @default REFRESH_PERIOD_SECONDS, the stack's schedule */
  readonly refreshIntervalSeconds?: number;
  /** The accounts a `"*"` entry admits (`TVM_ANY_CALLER_ACCOUNTS`). @default the local API's own account */
  readonly anyCallerAccounts?: readonly string[];
}

/**
 * The settings from the environment, or a {@link ConfigurationError} whose message names every bad one on
 * one line (never a value: `TVM_SEALING_KEY` is a key).
 */
export function readSettings(env: NodeJS.ProcessEnv = process.env): LocalSettings {
  const problems: string[] = [];
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    problems.push('PORT must be a port number (0 to 65535)');
  }
  const interval = env.TVM_REFRESH_INTERVAL_SECONDS;
  const refreshIntervalSeconds = interval === undefined || interval === '' ? undefined : Number(interval);
  if (
    refreshIntervalSeconds !== undefined &&
    (!Number.isInteger(refreshIntervalSeconds) || refreshIntervalSeconds < 1 || refreshIntervalSeconds > 3600)
  ) {
    problems.push('TVM_REFRESH_INTERVAL_SECONDS must be a whole number of seconds from 1 to 3600');
  }
  if (env.TVM_SEALING_KEY && !sealingKeyFrom(env.TVM_SEALING_KEY)) problems.push(SEALING_KEY_PROBLEM);
  let anyCallerAccounts: string[] | undefined;
  try {
    const value = env[ANY_CALLER_ACCOUNTS_ENVIRONMENT];
    anyCallerAccounts = value ? parseAnyCallerAccounts(value) : undefined;
  } catch (error) {
    problems.push((error as Error).message);
  }
  if (problems.length > 0) throw new ConfigurationError(problems.join('; '));
  const optional = <K extends string>(key: K, name: string) => (env[name] ? { [key]: env[name] } : {});
  return {
    port,
    ...optional('providersFile', 'TVM_PROVIDERS'),
    ...optional('secretsFile', 'TVM_SECRETS'),
    ...optional('callersFile', 'TVM_CALLERS'),
    ...optional('dynamoDbEndpoint', 'TVM_DYNAMODB_ENDPOINT'),
    tableName: env.TVM_TABLE || 'token-vending-local',
    ...(anyCallerAccounts ? { anyCallerAccounts } : {}),
    ...(refreshIntervalSeconds === undefined ? {} : { refreshIntervalSeconds }),
  };
}

/** Demo keys for loopback only; they open nothing anywhere else. */
export const DEMO_CALLER: CallerKey = {
  accessKeyId: 'AKIATVMLOCALDEMO0001',
  secretAccessKey: 'local-demo-secret-access-key-not-for-aws',
  principalArn: `arn:aws:iam::${LOCAL_API_ACCOUNT}:role/demo-caller`,
};

export const DEMO_SECRET_ID = 'token-vending/demo';

export function demoProvider(tokenEndpoint: string): ProviderConfig {
  const [provider] = parseProviderConfig(
    {
      providers: [
        {
          id: 'demo',
          description: 'Built-in demo authorization server on loopback',
          tokenEndpoint,
          clientAuth: 'client_secret_basic',
          secretId: DEMO_SECRET_ID,
          audienceParameter: 'audience',
          defaultAudience: 'https://api.demo.local',
          allowedAudiences: ['https://api.demo.local'],
          defaultScopes: ['demo.read'],
          allowedScopes: ['demo.read', 'demo.write'],
          callers: [DEMO_CALLER.principalArn],
        },
      ],
    },
    'demo provider',
    'local',
  );
  if (!provider) throw new Error('demo provider did not parse');
  return provider;
}

export function demoClient(): { clientId: string; clientSecret: string } {
  return { clientId: 'tvm-demo-client', clientSecret: randomBytes(24).toString('base64url') };
}

export function loadCallers(path: string): CallerKey[] {
  let callers: unknown;
  try {
    callers = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new ConfigurationError(`callers file ${path} is missing or not JSON`);
  }
  const valid =
    Array.isArray(callers) &&
    callers.length > 0 &&
    callers.every(
      (caller) =>
        typeof caller?.accessKeyId === 'string' &&
        typeof caller?.secretAccessKey === 'string' &&
        typeof caller?.principalArn === 'string' &&
        (caller?.sessionToken === undefined ||
          (typeof caller.sessionToken === 'string' && caller.sessionToken.length > 0)),
    );
  if (!valid) {
    throw new ConfigurationError(
      `callers file ${path} must be [{"accessKeyId","secretAccessKey","principalArn","sessionToken"?}, ...]`,
    );
  }
  return callers as CallerKey[];
}
