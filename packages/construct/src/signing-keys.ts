import { type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { ProviderConfig, SigningKeyEntry } from '../../../lambda/config/provider-schema';
import { signingKeyAlias } from '../../../lambda/oauth/signing-keys';
import { type PolicyRoles, signingKeyPolicy } from './key-policies';
import { allowReplication } from './regional-state';

/** The provider's signing keys the stack made, and every key (made or named) the function signs with. */
export interface ProviderSigningKeys {
  /** Created keys (in another region of a multi-Region deployment, replicas of the primary's), by `<provider id>/<name>`. */
  readonly created: ReadonlyMap<string, kms.IKey>;
  /** Every signing key's ARN, current and next: exactly what the function role may sign with. */
  readonly keyArns: readonly string[];
  /** `TVM_SIGNING_KEYS` for the function, `{"<provider>": {"<name>": "<ARN>"}}`; undefined when none was made. */
  readonly environment: string | undefined;
}

/**
 * Where the created keys live: one region (`single`); the primary region of several, whose keys are
 * multi-Region keys (`primary`); or another region of several, which replicates each of the primary's keys
 * (`replica`: the primary's keys by `<provider id>/<name>`, and the role this stack deploys with, which the
 * primary key's policy lets replicate it into this region).
 */
export type SigningKeyPlacement =
  | { readonly kind: 'single' | 'primary' }
  | {
      readonly kind: 'replica';
      readonly primaryKeys: ReadonlyMap<string, kms.IKey>;
      readonly deployer: string;
    };

/**
 * One asymmetric KMS key per `signingKey` entry that says `"create"` (RSA for RS256/PS256, ECC NIST P-256 for
 * ES256; SIGN_VERIFY), current and next alike, each under a construct id from its provider and `name` only, so
 * a key keeps its resource when it moves from next to current. With several regions the primary's keys are
 * multi-Region keys and every other region makes a replica of each (the same key material, so the same public
 * key and `kid` everywhere), under the same alias and a policy naming that region's function role. The
 * function role gets `kms:Sign` and `kms:GetPublicKey` on exactly its region's keys, next ones included: a
 * switch then never waits on an IAM change that CloudFormation may apply after the function's new settings.
 */
export function createSigningKeys(
  scope: Construct,
  providers: readonly ProviderConfig[],
  roles: PolicyRoles,
  role: iam.IRole,
  removalPolicy: RemovalPolicy,
  environment: string,
  placement: SigningKeyPlacement = { kind: 'single' },
): ProviderSigningKeys {
  const created = new Map<string, kms.IKey>();
  const keyArns: string[] = [];
  const names: Record<string, Record<string, string>> = {};
  for (const provider of providers) {
    const { signingKey } = provider;
    if (!signingKey) continue;
    for (const key of [signingKey, ...(signingKey.next ? [signingKey.next] : [])]) {
      if (key.kms !== 'create') {
        keyArns.push(key.kms);
        continue;
      }
      const name = key.name ?? '1';
      const id = `${provider.id}/${name}`;
      const description = `Signs the ${provider.id} provider's client assertions; only the token vending function signs`;
      // For `public-key`, which reads the public half by alias, in whichever region it runs.
      const alias = signingKeyAlias(environment, provider.id, name);
      const policy = signingKeyPolicy(scope, roles, key.algorithm);
      const made =
        placement.kind === 'replica'
          ? replicateSigningKey(scope, `${provider.id}-${name}`, {
              primaryKey: primaryKeyOf(placement.primaryKeys, id),
              deployer: placement.deployer,
              description,
              alias,
              policy,
              removalPolicy,
            })
          : new kms.Key(scope, `SigningKey-${provider.id}-${name}`, {
              description,
              keySpec: keySpecOf(key),
              keyUsage: kms.KeyUsage.SIGN_VERIFY,
              ...(placement.kind === 'primary' ? { multiRegion: true } : {}),
              alias,
              removalPolicy,
              policy,
            });
      created.set(id, made);
      keyArns.push(made.keyArn);
      names[provider.id] = { ...names[provider.id], [name]: made.keyArn };
    }
  }
  if (keyArns.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SignProviderAssertions',
        actions: ['kms:Sign', 'kms:GetPublicKey'],
        resources: keyArns,
      }),
    );
  }
  return {
    created,
    keyArns,
    environment: created.size > 0 ? Stack.of(scope).toJsonString(names) : undefined,
  };
}

function primaryKeyOf(primaryKeys: ReadonlyMap<string, kms.IKey>, id: string): kms.IKey {
  const key = primaryKeys.get(id);
  if (!key) {
    // Validation compares the entries with the primary's first; this is the last line of defence.
    throw new Error(`signing key ${id}: the primary region's service created no such key to replicate`);
  }
  return key;
}

/**
 * This region's replica of one of the primary's multi-Region signing keys, as the sealing key's replica is
 * made: the primary key's policy lets exactly this stack's deploying role replicate it, into exactly this
 * region; the replica's own policy (its creator's to write) names this region's function role alone.
 * Rotation is by `next`, a key of its own, as in one region.
 */
function replicateSigningKey(
  scope: Construct,
  id: string,
  options: {
    primaryKey: kms.IKey;
    deployer: string;
    description: string;
    alias: string;
    policy: iam.PolicyDocument;
    removalPolicy: RemovalPolicy;
  },
): kms.IKey {
  allowReplication(options.primaryKey, options.deployer, Stack.of(scope).region);
  const replica = new kms.CfnReplicaKey(scope, `SigningKey-${id}`, {
    primaryKeyArn: options.primaryKey.keyArn,
    description: options.description,
    keyPolicy: options.policy,
    enabled: true,
  });
  replica.applyRemovalPolicy(options.removalPolicy);
  new kms.CfnAlias(scope, `SigningKeyAlias-${id}`, {
    aliasName: options.alias,
    targetKeyId: replica.attrKeyId,
  });
  return kms.Key.fromKeyArn(scope, `SigningKeyReplicaArn-${id}`, replica.attrArn);
}

const keySpecOf = (key: SigningKeyEntry): kms.KeySpec =>
  key.algorithm === 'ES256'
    ? kms.KeySpec.ECC_NIST_P256
    : key.keySpec === 'RSA_3072'
      ? kms.KeySpec.RSA_3072
      : kms.KeySpec.RSA_2048;
