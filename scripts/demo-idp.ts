import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAuthorizationServer } from '../local/demo-authorization-server';
import { DEMO_SECRET_ID, demoClient, demoProvider } from '../local/local-config';

/**
 * `npm run demo-idp`: the local run's demo authorization server on its own, and the providers and secrets
 * files that point at it, so several local instances vend from one server — and so share tokens through a
 * shared table, as Lambda containers do (a token's cache key includes its token endpoint). Ctrl-C stops it.
 */
async function main(): Promise<void> {
  const client = demoClient();
  const server = await startAuthorizationServer({
    port: Number(process.env.TVM_DEMO_IDP_PORT ?? 9400),
    clients: [
      {
        client_id: client.clientId,
        client_secret: client.clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
  });
  const dir = join(__dirname, '..', '.cache', 'demo-idp');
  mkdirSync(dir, { recursive: true });
  const providers = join(dir, 'providers.json');
  const secrets = join(dir, 'secrets.json');
  const { callers, ...entry } = demoProvider(server.tokenEndpoint);
  writeFileSync(providers, JSON.stringify({ providers: [{ ...entry, callers }] }, null, 2));
  writeFileSync(
    secrets,
    JSON.stringify({ [DEMO_SECRET_ID]: { client_id: client.clientId, client_secret: client.clientSecret } }),
  );
  process.stdout.write(
    `Demo authorization server at ${server.tokenEndpoint}\nTVM_PROVIDERS=${providers} TVM_SECRETS=${secrets}\n`,
  );
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
