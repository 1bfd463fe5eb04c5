/**
 * A small model of how AWS evaluates a resource policy (key policy, secret policy), for the operators and
 * condition keys the stack's policies use. No local part enforces a KMS key policy, so the tests ask this
 * model, fed the synthesized template, the questions an attacker would ask AWS. Unknown operators throw:
 * the model never answers for a policy it does not understand.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { ACCOUNT } from './support';

export const REGION = 'eu-north-1';

type Json = unknown;
interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal: Json;
  Action: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** One request: who asks, for what, with which request context. */
export interface Request {
  /** `aws:PrincipalArn`; absent for an AWS service principal. */
  readonly principalArn?: string;
  /** A service principal such as `dynamodb.amazonaws.com`. */
  readonly service?: string;
  readonly action: string;
  /** Further condition keys (`kms:ViaService`, `kms:EncryptionContext:service`, …). */
  readonly context?: Readonly<Record<string, string>>;
  /** Authorized by a grant (or the principal's IAM policy) besides the resource policy: only a Deny stops it. */
  readonly authorizedElsewhere?: boolean;
}

/**
 * Turns the template's intrinsic functions in a policy into the strings AWS would see; `outputs` gives the
 * values of other stacks' outputs (`Fn::GetStackOutput`, by output name).
 */
export function resolveIntrinsics(
  value: Json,
  template: Template,
  outputs: Readonly<Record<string, string>> = {},
): Json {
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::AccountId': ACCOUNT,
    'AWS::Region': REGION,
  };
  const resources = template.toJSON().Resources as Record<string, { Type: string }>;
  const recurse = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(recurse);
    if (node === null || typeof node !== 'object') return node;
    const object = node as Record<string, Json>;
    if ('Ref' in object) {
      const name = String(object.Ref);
      if (pseudo[name]) return pseudo[name];
      return `ref:${name}`;
    }
    if ('Fn::GetAtt' in object) {
      const [id, attribute] = object['Fn::GetAtt'] as [string, string];
      if (resources[id]?.Type === 'AWS::IAM::Role' && attribute === 'Arn') {
        return `arn:aws:iam::${ACCOUNT}:role/${id}`;
      }
      return `getatt:${id}.${attribute}`;
    }
    if ('Fn::GetStackOutput' in object) {
      const { OutputName } = object['Fn::GetStackOutput'] as { OutputName: string };
      return outputs[OutputName] ?? `output:${OutputName}`;
    }
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, Json[]];
      return parts.map((part) => String(recurse(part))).join(separator);
    }
    if ('Fn::Sub' in object) {
      return String(object['Fn::Sub']).replace(/\$\{([^}]+)\}/g, (_, name: string) => {
        const resolved = pseudo[name];
        if (!resolved) throw new Error(`Fn::Sub of an unknown name ${name}`);
        return resolved;
      });
    }
    return Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, recurse(inner)]));
  };
  return recurse(value);
}

const asList = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : ([] as string[]).concat(value);

function matchesPattern(pattern: string, value: string): boolean {
  const expression = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${expression}$`, 'i').test(value);
}

function principalMatches(principal: Json, request: Request): boolean {
  if (principal === '*') return true;
  const { AWS, Service } = principal as { AWS?: string | string[]; Service?: string | string[] };
  // `{"AWS": "*"}` is the same as `"*"`: every principal, services included.
  if (asList(AWS).includes('*')) return true;
  if (request.service) return asList(Service).includes(request.service);
  return asList(AWS).some(
    (entry) =>
      entry === request.principalArn ||
      // The account principal delegates to the account's IAM policies: the model assumes an administrator.
      (entry === `arn:aws:iam::${ACCOUNT}:root` && request.principalArn?.includes(`::${ACCOUNT}:`) === true),
  );
}

function contextOf(request: Request): Record<string, string> {
  return {
    ...(request.principalArn
      ? {
          'aws:PrincipalArn': request.principalArn,
          'aws:PrincipalAccount': request.principalArn.split(':')[4] ?? '',
        }
      : {}),
    ...(request.service ? { 'aws:PrincipalServiceName': request.service } : {}),
    'aws:PrincipalIsAWSService': request.service ? 'true' : 'false',
    ...request.context,
  };
}

function conditionHolds(condition: Statement['Condition'], context: Record<string, string>): boolean {
  return Object.entries(condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => {
      const actual = context[key];
      const values = asList(expected);
      switch (operator) {
        case 'StringEquals':
        case 'ArnEquals':
          return actual !== undefined && values.includes(actual);
        case 'StringNotEquals':
        case 'ArnNotEquals':
          return actual === undefined || !values.includes(actual);
        case 'Bool':
          return actual !== undefined && values.includes(actual);
        case 'StringLike':
        case 'ArnLike':
          return actual !== undefined && values.some((pattern) => matchesPattern(pattern, actual));
        default:
          throw new Error(`the policy model does not know the condition operator ${operator}`);
      }
    }),
  );
}

/** `allowed` or `denied`, as AWS would answer the request against this resource policy. */
export function evaluate(statements: readonly Statement[], request: Request): 'allowed' | 'denied' {
  const context = contextOf(request);
  const applies = (statement: Statement) =>
    principalMatches(statement.Principal, request) &&
    asList(statement.Action).some((pattern) => matchesPattern(pattern, request.action)) &&
    conditionHolds(statement.Condition, context);
  if (statements.some((statement) => statement.Effect === 'Deny' && applies(statement))) return 'denied';
  if (request.authorizedElsewhere) return 'allowed';
  return statements.some((statement) => statement.Effect === 'Allow' && applies(statement))
    ? 'allowed'
    : 'denied';
}

/** The resolved statements of the key (or replica key) whose logical id contains `name`. */
export function keyPolicy(
  template: Template,
  name: string,
  outputs: Readonly<Record<string, string>> = {},
): Statement[] {
  const keys = [
    ...Object.entries(template.findResources('AWS::KMS::Key')),
    ...Object.entries(template.findResources('AWS::KMS::ReplicaKey')),
  ].filter(([id]) => id.includes(name));
  if (keys.length !== 1) throw new Error(`expected one key named ${name}, found ${keys.length}`);
  const [, key] = keys[0] as [string, { Properties: { KeyPolicy: Json } }];
  return (resolveIntrinsics(key.Properties.KeyPolicy, template, outputs) as { Statement: Statement[] })
    .Statement;
}

/** The resolved statements of the resource policy of the secret whose logical id contains `name`. */
export function secretPolicy(template: Template, name: string): Statement[] {
  const policies = Object.values(template.findResources('AWS::SecretsManager::ResourcePolicy')).filter(
    (policy) => JSON.stringify(policy.Properties.SecretId).includes(name),
  );
  if (policies.length !== 1)
    throw new Error(`expected one policy for secret ${name}, found ${policies.length}`);
  return (resolveIntrinsics(policies[0]?.Properties.ResourcePolicy, template) as { Statement: Statement[] })
    .Statement;
}

/** One request of an identity-based policy: an action on a resource, with its request context. */
export interface IdentityRequest {
  readonly action: string;
  readonly resource: string;
  /** Condition keys of the request (`lambda:SourceFunctionArn` for a call from the function's own code). */
  readonly context?: Readonly<Record<string, string>>;
}

interface IdentityStatement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** `allowed` or `denied`, as IAM would answer a principal whose identity policies are `statements`. */
export function evaluateIdentity(
  statements: readonly IdentityStatement[],
  request: IdentityRequest,
): 'allowed' | 'denied' {
  const context = { ...request.context };
  const applies = (statement: IdentityStatement) =>
    asList(statement.Action).some((pattern) => matchesPattern(pattern, request.action)) &&
    asList(statement.Resource).some((pattern) => matchesPattern(pattern, request.resource)) &&
    conditionHolds(statement.Condition, context);
  if (statements.some((statement) => statement.Effect === 'Deny' && applies(statement))) return 'denied';
  return statements.some((statement) => statement.Effect === 'Allow' && applies(statement))
    ? 'allowed'
    : 'denied';
}
