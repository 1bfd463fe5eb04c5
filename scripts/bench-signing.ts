import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { composeService } from '../lambda/compose';
import { parseProviderConfig } from '../lambda/config/load-providers';
import { StaticCredentialSource } from '../lambda/credentials/static-credential-source';
import type { Log } from '../lambda/logging';
import { kmsSignerFactory, providerSigners } from '../lambda/oauth/signing-keys';
// The loopback KMS and token endpoint the suite uses: real SDK calls, counted where they arrive.
import { grant, startFakeProvider } from '../local/loopback/fake-provider';
import { kmsClient, startKmsEndpoint } from '../local/loopback/kms-endpoint';

const CALLER = 'arn:aws:iam::111122223333:role/bench-caller';
const SCOPES = ['a', 'b', 'c', 'd'];

/**
 * "KMS Sign calls per upstream request / per vend": a private_key_jwt provider whose key is in the loopback
 * KMS, vended `vends` times across four scopes (so four cache keys). The goal is one Sign per upstream
 * request and none for a vend served from the cache. Returns the lines to print.
 */
const quiet: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

export async function benchSigning(vends = 400, log: Log = quiet): Promise<string[]> {
  const kms = await startKmsEndpoint();
  const provider = await startFakeProvider(() => grant(`token-${Math.random()}`));
  try {
    const client = kmsClient(kms);
    const { KeyMetadata } = await client.send(
      new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
    );
    const providers = parseProviderConfig(
      {
        providers: [
          {
            id: 'bench-signed',
            tokenEndpoint: provider.tokenEndpoint,
            clientAuth: 'private_key_jwt',
            secretId: 'bench/signed',
            defaultScopes: ['a'],
            allowedScopes: SCOPES,
            callers: [CALLER],
            upstreamBudget: { perCallerPerMinute: 100_000, perMinute: 100_000 },
            signingKey: { kms: String(KeyMetadata?.Arn), algorithm: 'ES256' },
          },
        ],
      },
      'bench',
      'local',
    );
    const { vendor } = composeService({
      providers,
      credentials: new StaticCredentialSource({ 'bench/signed': { client_id: 'bench-client' } }),
      signers: providerSigners(providers, kmsSignerFactory(client, {})),
      endpoints: 'local',
      log,
    });
    for (let vend = 0; vend < vends; vend++) {
      await vendor.vend(CALLER, 'bench-signed', { scopes: [SCOPES[vend % SCOPES.length] as string] });
    }
    const signs = kms.calls.filter((operation) => operation === 'Sign').length;
    const upstream = provider.requests.length;
    const cached = vends - upstream;
    return [
      `KMS Sign calls per upstream request: ${(signs / upstream).toFixed(2)} (${signs} Sign, ${upstream} requests; goal 1)`,
      `KMS Sign calls per vend served from cache: ${((signs - upstream) / cached).toFixed(2)} (${cached} such vends; goal 0)`,
    ];
  } finally {
    await provider.close();
    await kms.close();
  }
}

if (require.main === module) {
  benchSigning().then((lines) => process.stdout.write(`${lines.join('\n')}\n`));
}
