import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RemovalPolicy } from 'aws-cdk-lib';
import type { ProviderEntryInput } from '../lambda/config/provider-schema';

/** What differs between deployments of the service. */
export interface EnvironmentSettings {
  readonly name: string;
  /** A providers file under `config/providers/`. */
  readonly providersFile: string;
  readonly removalPolicy: RemovalPolicy;
  readonly pointInTimeRecovery: boolean;
  readonly tracing: boolean;
}

/**
 * Chosen with `cdk deploy -c env=<name>`. The sandbox holds the providers' test environments and may be torn
 * down whole; production keeps its table and secrets when the stack goes.
 */
export const ENVIRONMENTS: Readonly<Record<string, EnvironmentSettings>> = {
  sandbox: {
    name: 'sandbox',
    providersFile: 'sandbox.json',
    removalPolicy: RemovalPolicy.DESTROY,
    pointInTimeRecovery: false,
    tracing: false,
  },
  production: {
    name: 'production',
    providersFile: 'production.json',
    removalPolicy: RemovalPolicy.RETAIN,
    pointInTimeRecovery: true,
    tracing: true,
  },
};

export function environmentNamed(name: string): EnvironmentSettings {
  const settings = ENVIRONMENTS[name];
  if (!settings) {
    throw new Error(`unknown environment "${name}"; use -c env=${Object.keys(ENVIRONMENTS).join('|')}`);
  }
  return settings;
}

/** The environment's provider entries, unchecked: the construct validates them at synth. */
export function readProvidersFile(settings: EnvironmentSettings): ProviderEntryInput[] {
  const path = join(__dirname, '..', 'config', 'providers', settings.providersFile);
  const document = JSON.parse(readFileSync(path, 'utf8')) as { providers?: ProviderEntryInput[] };
  return document.providers ?? [];
}
