import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { TOKEN_TABLE } from './function-contract';
import { type PolicyRoles, sealingKeyPolicy } from './key-policies';
import { globalTableName } from './service-regions';

/**
 * Where one region of a multi-Region deployment stands: every region of it (the primary first), its own,
 * and the primary region's construct (none in the primary region itself).
 */
export interface RegionalPlacement {
  readonly regions: readonly string[];
  readonly region: string;
  readonly isPrimary: boolean;
}

/** Extra actions reserved for the policy admins on a replicated secret: who may move its replicas. */
export const SECRET_REPLICATION_ACTIONS = [
  'secretsmanager:ReplicateSecretToRegions',
  'secretsmanager:RemoveRegionsFromReplication',
  'secretsmanager:StopReplicationToReplica',
] as const;

export const SEALING_KEY_DESCRIPTION =
  'Seals the OAuth tokens the token vending function caches in its table';

/**
 * The primary region's global table: one replica per other region, the same name in each, PITR and TTL on
 * every replica, and deletion protection wherever the table is retained (a replica removed by mistake
 * takes that region's copy of every cached token, leases and budgets with it).
 */
export function createGlobalTable(
  scope: Construct,
  environment: string,
  placement: RegionalPlacement,
  pointInTimeRecovery: boolean,
  removalPolicy: RemovalPolicy,
): dynamodb.TableV2 {
  return new dynamodb.TableV2(scope, 'GlobalTokenTable', {
    tableName: globalTableName(environment),
    partitionKey: { name: TOKEN_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
    billing: dynamodb.Billing.onDemand(),
    timeToLiveAttribute: TOKEN_TABLE.ttlAttribute,
    encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: pointInTimeRecovery },
    deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
    removalPolicy,
    replicas: placement.regions
      .filter((region) => region !== placement.region)
      .map((region) => ({
        region,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: pointInTimeRecovery },
      })),
  });
}

/** Another region's view of the global table: its own replica, by the name every region shares. */
export function regionalReplicaOfTable(scope: Construct, environment: string): dynamodb.ITableV2 {
  return dynamodb.TableV2.fromTableName(scope, 'GlobalTokenTable', globalTableName(environment));
}

/** The primary's sealing key, a multi-Region key: each other region opens with its replica what one sealed. */
export function createMultiRegionSealingKey(
  scope: Construct,
  roles: PolicyRoles,
  removalPolicy: RemovalPolicy,
): kms.Key {
  return new kms.Key(scope, 'MultiRegionSealingKey', {
    description: SEALING_KEY_DESCRIPTION,
    enableKeyRotation: true,
    multiRegion: true,
    removalPolicy,
    policy: sealingKeyPolicy(scope, roles),
  });
}

/**
 * This region's replica of the primary's sealing key, under the same policy as the primary (naming this
 * region's function). Creating it is `kms:ReplicateKey` on the primary key by this stack's deploying role:
 * the primary key's policy admits exactly that role, for exactly this region (a replica's policy is its
 * creator's to write, so whoever may replicate could make a replica they may decrypt with).
 * Rotation is the primary's: a replica shares its key material.
 */
export function createSealingKeyReplica(
  scope: Construct,
  primaryKey: kms.IKey,
  roles: PolicyRoles,
  deployer: string,
  removalPolicy: RemovalPolicy,
): kms.IKey {
  allowReplication(primaryKey, deployer, Stack.of(scope).region);
  const replica = new kms.CfnReplicaKey(scope, 'SealingKeyReplica', {
    primaryKeyArn: primaryKey.keyArn,
    description: SEALING_KEY_DESCRIPTION,
    keyPolicy: sealingKeyPolicy(scope, roles),
    enabled: true,
  });
  replica.applyRemovalPolicy(removalPolicy);
  return kms.Key.fromKeyArn(scope, 'SealingKeyReplicaArn', replica.attrArn);
}

/**
 * Lets exactly `deployer` replicate the multi-Region `primaryKey`, and only into `region`: a replica's policy
 * is its creator's to write, so whoever may replicate a key could make a replica they may use.
 */
export function allowReplication(primaryKey: kms.IKey, deployer: string, region: string): void {
  primaryKey.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: `ReplicateTo${region.replace(/-/g, '')}`,
      principals: [new iam.AccountRootPrincipal()],
      actions: ['kms:ReplicateKey'],
      resources: ['*'],
      conditions: {
        ArnEquals: { 'aws:PrincipalArn': deployer },
        StringEquals: { 'kms:ReplicaRegion': region },
      },
    }),
  );
}
