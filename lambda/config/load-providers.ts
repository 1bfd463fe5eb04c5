import { readFileSync } from 'node:fs';
import type { $ZodIssue } from 'zod/v4/core';
import { ConfigurationError } from '../errors';
import { privateEndpointReason } from './private-endpoints';
import { type ProviderConfig, ProviderConfigFileSchema } from './provider-schema';

/** Formats zod issues as `providers[2].tokenEndpoint: must be ...`, one line per problem. */
export function describeIssues(issues: readonly $ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.reduce<string>(
      (text, part) =>
        typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part),
      '',
    );
    return `${path || '(root)'}: ${issue.message}`;
  });
}

/**
 * Where token endpoints may be: `public` for a deployed service (no loopback, private or link-local
 * addresses), `local` for the local run and tests, whose providers are on loopback.
 */
export type EndpointPolicy = 'public' | 'local';

/**
 * Validates a providers document, reporting every bad field at once so an operator fixes a file in one pass.
 * Runs at `cdk synth` and at cold start.
 */
export function parseProviderConfig(
  document: unknown,
  source = 'providers',
  endpoints: EndpointPolicy = 'public',
): ProviderConfig[] {
  const result = ProviderConfigFileSchema.safeParse(document);
  if (!result.success) {
    throw new ConfigurationError(
      `${source} is not a valid providers file`,
      describeIssues(result.error.issues),
    );
  }
  const providers = result.data.providers;
  if (endpoints === 'public') {
    const problems = providers.flatMap((provider, index) => {
      const reason = privateEndpointReason(provider.tokenEndpoint);
      return reason === undefined
        ? []
        : [
            `providers[${index}].tokenEndpoint: ${reason} (loopback, private, link-local or otherwise not public); only the local run may use one`,
          ];
    });
    if (problems.length > 0)
      throw new ConfigurationError(`${source} is not a valid providers file`, problems);
  }
  return providers;
}

export function loadProvidersFile(path: string, endpoints: EndpointPolicy = 'public'): ProviderConfig[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigurationError(
      `cannot read providers file ${path}: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new ConfigurationError(`providers file ${path} is not valid JSON`);
  }
  return parseProviderConfig(document, path, endpoints);
}
