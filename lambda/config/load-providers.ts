import { readFileSync } from 'node:fs';
import type { $ZodIssue } from 'zod/v4/core';
import { ConfigurationError } from '../errors';
import { privateEndpointReason } from './private-endpoints';
import { problemPath, providerPath } from './problem-paths';
import { isAcceptableTokenEndpoint, type ProviderConfig, ProviderConfigFileSchema } from './provider-schema';

/**
 * Formats zod issues as `providers["bcc"].tokenEndpoint: must be ...`, one line per problem; `entries` (the
 * document's raw `providers`) names each provider by its id.
 */
export function describeIssues(issues: readonly $ZodIssue[], entries?: readonly unknown[]): string[] {
  return issues.map((issue) => `${problemPath(issue.path, entries) || '(root)'}: ${issue.message}`);
}

/**
 * Where token endpoints may be: `public` for a deployed service (no loopback, private or link-local
 * addresses), `local` for the local run and tests, whose providers are on loopback.
 */
export type EndpointPolicy = 'public' | 'local';

/**
 * Validates a providers document, reporting every problem at once (fields, the rules between fields, and
 * endpoints that are not public) so an operator fixes a file in one pass.
 * Runs at `cdk synth` and at cold start.
 */
export function parseProviderConfig(
  document: unknown,
  source = 'providers',
  endpoints: EndpointPolicy = 'public',
): ProviderConfig[] {
  const result = ProviderConfigFileSchema.safeParse(document);
  const entries = (document as { providers?: unknown } | null | undefined)?.providers;
  const raw = Array.isArray(entries) ? entries : undefined;
  const problems = result.success ? [] : describeIssues(result.error.issues, raw);
  // Beside the schema's problems, not after them: an endpoint the schema accepts may still be private.
  if (endpoints === 'public') {
    raw?.forEach((entry, index) => {
      const endpoint = (entry as { tokenEndpoint?: unknown } | null | undefined)?.tokenEndpoint;
      if (typeof endpoint !== 'string' || !isAcceptableTokenEndpoint(endpoint)) return;
      const reason = privateEndpointReason(endpoint);
      if (reason !== undefined) {
        problems.push(
          `${providerPath(raw, index)}.tokenEndpoint: ${reason} (loopback, private, link-local or otherwise not public); only the local run may use one`,
        );
      }
    });
  }
  if (!result.success || problems.length > 0) {
    throw new ConfigurationError(`${source} is not a valid providers file`, problems);
  }
  return result.data.providers;
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
