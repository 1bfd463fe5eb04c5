import { parseArgs } from 'node:util';
import { TvmClient, TvmError } from '../client';

const USAGE = `Usage: tvm <command> [options]

Commands:
  vend <provider>     vend a token and print the service's JSON answer
  evict <provider>    evict the cached token the API rejected (name it with --token; a token
                      issued under 15 s ago is not evicted)
  providers           list the providers this caller may vend

Options:
  --scope <scope>     a scope; repeat, or give several separated by spaces
  --audience <aud>    the audience (or resource) to ask for
  --min-ttl <n>       seconds the token must stay valid at least
  --raw               vend: print only the access token, for $(tvm vend x --raw)
  --token <token>     evict: the token the API rejected (only its fingerprint is sent)
  --endpoint <url>    the API's base URL (default: $TVM_ENDPOINT)
  --region <region>   the signing region (default: $AWS_REGION, or the endpoint's)
  -h, --help          this text

Signs with the AWS SDK's default credentials (environment, profile, container or instance role).
On failure: exit 1 and one line "tvm: <error code>: <message>" on stderr; usage errors exit 2.`;

class UsageError extends Error {}

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

/** Runs one `tvm` command line; returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        scope: { type: 'string', multiple: true },
        audience: { type: 'string' },
        'min-ttl': { type: 'string' },
        token: { type: 'string' },
        raw: { type: 'boolean' },
        endpoint: { type: 'string' },
        region: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [command, provider, ...extra] = positionals;
    if (values.help || command === undefined || command === 'help') {
      io.stdout(`${USAGE}\n`);
      return values.help || command === 'help' ? 0 : 2;
    }
    if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra[0]}`);
    const endpoint = values.endpoint ?? io.env.TVM_ENDPOINT;
    if (!endpoint) throw new UsageError('no endpoint: pass --endpoint or set TVM_ENDPOINT');
    if (!URL.canParse(endpoint)) throw new UsageError(`not a URL: ${endpoint}`);
    let minTtl: number | undefined;
    if (values['min-ttl'] !== undefined) {
      minTtl = Number(values['min-ttl']);
      if (!Number.isInteger(minTtl) || minTtl < 0)
        throw new UsageError('--min-ttl takes a whole number of seconds');
    }
    const client = new TvmClient({
      endpoint,
      ...(values.region ? { region: values.region } : {}),
      maxAttempts: 3,
    });
    const selectors = {
      ...(values.scope ? { scope: values.scope } : {}),
      ...(values.audience ? { audience: values.audience } : {}),
      ...(minTtl === undefined ? {} : { minTtl }),
    };

    switch (command) {
      case 'vend': {
        if (!provider) throw new UsageError('vend needs a provider');
        const { response } = await client.vend(provider, selectors);
        io.stdout(values.raw ? `${response.access_token}\n` : `${JSON.stringify(response, null, 2)}\n`);
        return 0;
      }
      case 'evict': {
        if (!provider) throw new UsageError('evict needs a provider');
        await client.evict(provider, selectors, values.token);
        return 0;
      }
      case 'providers': {
        if (provider) throw new UsageError(`unexpected argument: ${provider}`);
        io.stdout(`${JSON.stringify(await client.listProviders(), null, 2)}\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command: ${command}`);
    }
  } catch (error) {
    if (error instanceof TvmError) {
      const upstream = error.details.upstreamError ? ` (upstream: ${error.details.upstreamError})` : '';
      io.stderr(`tvm: ${error.code}: ${error.message}${upstream}\n`);
      return 1;
    }
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`tvm: usage: ${(error as Error).message}\n(see tvm --help)\n`);
      return 2;
    }
    io.stderr(
      `tvm: ${(error as Error).name === 'CredentialsProviderError' ? 'no_credentials' : 'error'}: ${(error as Error).message}\n`,
    );
    return 1;
  }
}
