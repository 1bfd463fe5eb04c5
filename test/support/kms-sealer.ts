import { KMSClient } from '@aws-sdk/client-kms';
import { KmsDataKeys } from '../../lambda/cache/kms-data-keys';
import { EnvelopeSealer } from '../../lambda/cache/token-sealer';
import type { KmsEndpoint } from '../../local/loopback/kms-endpoint';

/**
 * A sealer of its own on the loopback KMS reached at `endpoint` (the KMS itself, or a fault proxy in front
 * of it), bounded as the function's is but shorter, with no data key cached yet.
 */
export function kmsSealerAt(endpoint: string, kms: KmsEndpoint): EnvelopeSealer {
  return new EnvelopeSealer({
    dataKeys: new KmsDataKeys({
      client: new KMSClient({
        endpoint,
        region: 'us-east-1',
        credentials: kms.credentials,
        maxAttempts: 1,
        requestHandler: { connectionTimeout: 300, requestTimeout: 500 },
      }),
      keyId: kms.keyId,
      timeoutMs: 500,
    }),
  });
}
