import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type CallerKey, SignatureError, verifySigV4 } from '../../local/sigv4-verifier';

export interface SecretsManagerEndpoint {
  readonly endpoint: string;
  readonly credentials: CallerKey;
  /** GetSecretValue calls received, by secret id. */
  readonly reads: string[];
  /** PutSecretValue calls received, by secret id. */
  readonly writes: string[];
  /** The value a secret holds now. */
  secretValue(secretId: string): string | undefined;
  setSecret(secretId: string, value: string): void;
  /** `error`: every call answers 500 InternalServiceError; `hang`: calls are accepted and never answered. */
  setOutage(outage: 'none' | 'error' | 'hang'): void;
  /** Every call (read or write) answered with this AWS error until cleared, as IAM or throttling would. */
  setRefusal(refusal: AwsRefusal | undefined): void;
  close(): Promise<void>;
}

export interface AwsRefusal {
  readonly status: number;
  /** The AWS error type, e.g. AccessDeniedException, ThrottlingException, ResourceNotFoundException. */
  readonly type: string;
  readonly message: string;
}

/**
 * A minimal Secrets Manager on loopback: the AWS JSON 1.1 protocol's GetSecretValue, with SigV4 verified
 * for service `secretsmanager`. No Secrets Manager emulator is in reach here, so the real SDK client and
 * Powertools provider are exercised against this instead.
 */
export async function startSecretsManagerEndpoint(): Promise<SecretsManagerEndpoint> {
  const credentials: CallerKey = {
    accessKeyId: 'AKIASECRETSTEST00001',
    secretAccessKey: 'secrets-manager-test-key',
    principalArn: 'arn:aws:iam::111122223333:role/token-vending-function',
  };
  const secrets = new Map<string, string>();
  const reads: string[] = [];
  const writes: string[] = [];
  let outage: 'none' | 'error' | 'hang' = 'none';
  let refusal: AwsRefusal | undefined;
  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const fail = (status: number, type: string, message: string) => {
      response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
      response.end(JSON.stringify({ __type: type, message }));
    };
    try {
      await verifySigV4(
        { method: request.method ?? 'POST', target: request.url ?? '/', headers: request.headers, body },
        new Map([[credentials.accessKeyId, credentials]]),
        { service: 'secretsmanager' },
      );
    } catch (error) {
      if (error instanceof SignatureError) return fail(400, 'InvalidSignatureException', error.message);
      throw error;
    }
    if (refusal) return fail(refusal.status, refusal.type, refusal.message);
    if (request.headers['x-amz-target'] === 'secretsmanager.PutSecretValue') {
      const { SecretId: written, SecretString: value } = JSON.parse(body.toString('utf8')) as {
        SecretId: string;
        SecretString: string;
      };
      secrets.set(written, value);
      writes.push(written);
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(
        JSON.stringify({
          ARN: `arn:aws:secretsmanager:us-east-1:111122223333:secret:${written}`,
          Name: written,
          VersionId: 'v2',
        }),
      );
      return;
    }
    if (request.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
      return fail(400, 'UnknownOperationException', 'only GetSecretValue and PutSecretValue');
    }
    const { SecretId: secretId } = JSON.parse(body.toString('utf8')) as { SecretId: string };
    reads.push(secretId);
    if (outage === 'hang') return;
    if (outage === 'error') return fail(500, 'InternalServiceError', 'An error occurred on the server side.');
    const value = secrets.get(secretId);
    if (value === undefined)
      return fail(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    response.end(
      JSON.stringify({
        ARN: `arn:aws:secretsmanager:us-east-1:111122223333:secret:${secretId}-AbCdEf`,
        Name: secretId,
        SecretString: value,
        VersionId: 'v1',
        VersionStages: ['AWSCURRENT'],
        CreatedDate: Date.now() / 1000,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    credentials,
    reads,
    writes,
    secretValue: (secretId) => secrets.get(secretId),
    setSecret: (secretId, value) => secrets.set(secretId, value),
    setOutage: (next) => {
      outage = next;
    },
    setRefusal: (next) => {
      refusal = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The real SDK client, pointed at the loopback endpoint, one attempt per call. */
export function secretsManagerClient(endpoint: SecretsManagerEndpoint): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint: endpoint.endpoint,
    region: 'us-east-1',
    credentials: endpoint.credentials,
    maxAttempts: 1,
  });
}
