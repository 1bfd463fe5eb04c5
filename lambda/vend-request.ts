import * as z from 'zod/mini';
import type { $ZodIssue } from 'zod/v4/core';
import { normalizeScopes } from '../packages/client/src/wire-contract';
import { SCOPE_TOKEN } from './config/provider-schema';
import './config/zod-locale';
import { VendError } from './errors';
import type { EvictRequest, VendRequest } from './model';

/** docs/DESIGN.md: the body is optional JSON of at most 8 KiB. */
export const MAX_BODY_BYTES = 8 * 1024;
export const MAX_MIN_TTL_SECONDS = 86_400;
const MAX_SCOPES = 50;

const FINGERPRINT = /^[0-9a-f]{16}$/;

const BodySchema = z.strictObject({
  scope: z.optional(
    z.union([
      z.string().check(z.maxLength(4096)),
      z.array(z.string().check(z.maxLength(1024))).check(z.maxLength(MAX_SCOPES)),
    ]),
  ),
  audience: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
  min_ttl: z.optional(z.int().check(z.minimum(0), z.maximum(MAX_MIN_TTL_SECONDS))),
});

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The body as API Gateway passes it: a string, or null when there is none. Anything else, and base64 that is
 * not strictly base64 (Node would decode it leniently into something else), is refused rather than guessed at.
 */
function decodeBody(body: unknown, isBase64Encoded: unknown): string {
  if (body === null || body === '') return '';
  if (typeof body !== 'string') throw new VendError('invalid_request', 'The request has no readable body.');
  if (body.length > MAX_BODY_BYTES * 2) {
    throw new VendError('invalid_request', `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
  }
  if (isBase64Encoded === true && !BASE64.test(body)) {
    throw new VendError('invalid_request', 'The request body is marked base64 but is not valid base64.');
  }
  const bytes = isBase64Encoded === true ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new VendError('invalid_request', `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
  }
  return bytes.toString('utf8');
}

function describeBodyIssue(issue: $ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s): ${issue.keys.join(', ')}`;
  const field = issue.path.join('.') || 'body';
  if (field === 'min_ttl') return `min_ttl must be an integer from 0 to ${MAX_MIN_TTL_SECONDS}`;
  if (field.startsWith('scope')) return 'scope must be a space-separated string or an array of strings';
  return `${field}: ${issue.message}`;
}

/**
 * Parses an evict call's body: the vend body without `min_ttl`, plus `token_fingerprint`, the
 * fingerprint of the token the caller saw rejected (`tokenFingerprint` in the wire contract).
 */
export function parseEvictRequest(body: unknown, isBase64Encoded: unknown = false): EvictRequest {
  const text = decodeBody(body, isBase64Encoded);
  let fingerprint: unknown;
  let rest = body;
  if (text.trim() !== '') {
    try {
      const json = JSON.parse(text) as unknown;
      if (typeof json === 'object' && json !== null && !Array.isArray(json) && 'token_fingerprint' in json) {
        const { token_fingerprint, ...others } = json as Record<string, unknown>;
        fingerprint = token_fingerprint;
        rest = JSON.stringify(others);
        if (typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint)) {
          throw new VendError('invalid_request', 'token_fingerprint must be 16 lower-case hex digits.');
        }
      }
    } catch (error) {
      if (error instanceof VendError) throw error;
      // Not JSON: the vend parser says so below.
    }
  }
  const request = parseVendRequest(rest === body ? body : rest, rest === body ? isBase64Encoded : false);
  if (request.minTtlSeconds !== undefined)
    throw new VendError('invalid_request', 'An evict takes no min_ttl.');
  // Without the token it saw rejected, a caller could evict a token another caller is using.
  if (fingerprint === undefined) {
    throw new VendError(
      'invalid_request',
      'token_fingerprint is required: the first 16 hex digits of the SHA-256 of the token the API rejected.',
    );
  }
  return { ...request, tokenFingerprint: fingerprint as string };
}

/** Parses and validates the body of a vend call; throws `invalid_request` naming every problem. */
export function parseVendRequest(body: unknown, isBase64Encoded: unknown = false): VendRequest {
  const text = decodeBody(body, isBase64Encoded);
  if (text.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new VendError('invalid_request', 'The request body is not valid JSON.');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new VendError('invalid_request', 'The request body must be a JSON object.');
  }
  const parsed = BodySchema.safeParse(json);
  if (!parsed.success) {
    throw new VendError(
      'invalid_request',
      `Invalid request: ${parsed.error.issues.map(describeBodyIssue).join('; ')}.`,
    );
  }
  const { scope, audience, min_ttl } = parsed.data;
  const request: { scopes?: string[]; audience?: string; minTtlSeconds?: number } = {};
  if (scope !== undefined) {
    const scopes = normalizeScopes(scope);
    const bad = scopes.filter((token) => !SCOPE_TOKEN.test(token));
    if (bad.length > 0) {
      throw new VendError(
        'invalid_request',
        'scope contains characters that RFC 6749 does not allow in a scope.',
      );
    }
    if (scopes.length > MAX_SCOPES) throw new VendError('invalid_request', `At most ${MAX_SCOPES} scopes.`);
    // An empty scope is the same as none given: the provider's default applies.
    if (scopes.length > 0) request.scopes = scopes;
  }
  if (audience !== undefined) request.audience = audience;
  if (min_ttl !== undefined) request.minTtlSeconds = min_ttl;
  return request;
}
