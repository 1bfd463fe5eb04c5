import type { KMSClient } from '@aws-sdk/client-kms';
import type { ProviderConfig, SigningKeyEntry } from '../config/provider-schema';
import { ConfigurationError } from '../errors';
import type { AssertionSigner, ProviderSigners } from './assertion-signer';
import { KmsAssertionSigner } from './kms-assertion-signer';

/** Which of a provider's keys: the one it signs with, or the one registered ahead of a switch. */
export type SigningKeySlot = 'current' | 'next';

/** Makes the signer of one of a provider's keys: KMS in AWS, the local stand-in in the local run. */
export type SignerFactory = (
  provider: ProviderConfig,
  key: SigningKeyEntry,
  slot: SigningKeySlot,
) => AssertionSigner;

/** The keys the stack created, by provider id and key `name`: what `TVM_SIGNING_KEYS` holds. */
export type CreatedKeyArns = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** The signers of every provider whose entry has a `signingKey`, made once per container. */
export function providerSigners(
  providers: readonly ProviderConfig[],
  factory: SignerFactory,
): ReadonlyMap<string, ProviderSigners> {
  const signers = new Map<string, ProviderSigners>();
  for (const provider of providers) {
    const key = provider.signingKey;
    if (!key) continue;
    signers.set(provider.id, {
      current: factory(provider, key, 'current'),
      ...(key.next ? { next: factory(provider, key.next, 'next') } : {}),
    });
  }
  return signers;
}

/** `TVM_SIGNING_KEYS`, as the stack writes it: `{"<provider>": {"<name>": "<key ARN>"}}`. */
export function parseCreatedKeyArns(text: string | undefined): CreatedKeyArns {
  if (!text) return {};
  try {
    return JSON.parse(text) as CreatedKeyArns;
  } catch {
    throw new ConfigurationError('TVM_SIGNING_KEYS is not JSON');
  }
}

/** The ARN of a provider's key: the entry's, or the one the stack created under the key's `name`. */
export function signingKeyArn(
  provider: ProviderConfig,
  key: SigningKeyEntry,
  created: CreatedKeyArns,
): string {
  if (key.kms !== 'create') return key.kms;
  const arn = created[provider.id]?.[key.name ?? '1'];
  if (!arn) {
    throw new ConfigurationError(
      `provider ${provider.id}: no KMS key was created for signingKey "${key.name ?? '1'}"; deploy the stack with this entry`,
    );
  }
  return arn;
}

/** Signers on KMS keys, through one bounded client. */
export const kmsSignerFactory =
  (client: KMSClient, created: CreatedKeyArns): SignerFactory =>
  (provider, key) =>
    new KmsAssertionSigner({
      client,
      keyArn: signingKeyArn(provider, key, created),
      algorithm: key.algorithm,
      kid: key.kid,
      certificateChain: key.certificateChain,
    });

/** The alias the stack gives a key it created: how operators' tools find it without the stack's outputs. */
export const signingKeyAlias = (environment: string, providerId: string, name: string): string =>
  `alias/token-vending-${environment}/${providerId}/${name}`;
