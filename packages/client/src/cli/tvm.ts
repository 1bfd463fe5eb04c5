import { parseArgs } from 'node:util';
import { TvmClient, TvmError } from '..';
import { debugDetails, failureLine } from './failure-line';

const USAGE = `Usage: tvm <command> [options]

Commands:
  vend <provider>     vend a token and print the service's JSON answer
  evict <provider>    evict the cached token the API rejected (name it with --token; without it,
                      the token the service serves now; a token issued under 15 s ago is not evicted)
  providers           list the providers this caller may vend
  check               after a deploy: an unsigned call is refused, then vend from every provider
                      this caller may use; prints a table, exits 1 if anything failed

Options:
  --scope <scope>     a scope; repeat, or give several separated by spaces
  --audience <aud>    the audience (or resource) to ask for
  --min-ttl <n>       seconds the token must stay valid at least
  --raw               vend: print only the access token, for $(tvm vend x --raw)
  --token <token>     evict: the token the API rejected (only its fingerprint is sent)
  --endpoint <url>    the API's base URL; repeat for regional APIs, the primary first, tried in turn
                      when one is down (default: $TVM_ENDPOINTS, comma-separated, else $TVM_ENDPOINT)
  --region <region>   the signing region (one endpoint: default $AWS_REGION, or the endpoint's; several:
                      each is signed for the region in its execute-api host name, else this)
  --version           the version of tvm
  --debug             on failure, print the stack too
  -h, --help          this text

Signs with the AWS SDK's default credentials (environment, profile, container or instance role).
On failure: exit 1 and one line "tvm: <error code>: <message> — <what to do>" on stderr; usage errors
exit 2.`;

class UsageError extends Error {}

/** The package's version, as `npm` installed it. */
const VERSION: string = (require('../../package.json') as { version: string }).version;

/** A usage error in one line: Node's argument parser explains itself at length, and in its own words. */
/** One line for what an evict did: a 204 alone would not tell a person whether the token went. */
const EVICT_SAID: Record<Awaited<ReturnType<TvmClient['evict']>>, string> = {
  evicted: 'evicted: the next vend fetches a new token',
  absent: 'nothing evicted: no token is cached',
  not_current: 'kept: the service caches another token than the one named (already renewed?)',
  too_young: 'kept: the token was issued under 15 s ago',
  not_asked: 'nothing evicted: this client holds no token to name',
  unknown: 'done: the service did not say whether it evicted',
};

function usageMessage(error: Error & { code?: string }): string {
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'(-[^']+)'/.exec(error.message)?.[1] ?? 'an option';
    return `unknown option ${option}`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /'(-[^' ]+)/.exec(error.message)?.[1] ?? 'an option';
    return `${option} needs a value`;
  }
  return error.message;
}

interface CheckRow {
  readonly check: string;
  readonly status: number | string;
  readonly ms: number;
  readonly result: string;
  readonly ok: boolean;
}

/**
 * The smoke check after a deploy: the API refuses an unsigned call (API Gateway's "Missing Authentication
 * Token" means the URL or the stage path is wrong, a 403 from the API itself that SigV4 is on), lists what
 * this caller may vend, and vends from each provider.
 */
async function smokeCheck(client: TvmClient, endpoints: readonly string[], io: CliIo): Promise<number> {
  const rows: CheckRow[] = [];
  const timed = async (
    check: string,
    work: () => Promise<{ status: number | string; result: string; ok: boolean }>,
  ) => {
    const started = Date.now();
    try {
      rows.push({ check, ...(await work()), ms: Date.now() - started });
    } catch (error) {
      const failure =
        error instanceof TvmError ? error : new TvmError('network_error', (error as Error).message);
      rows.push({
        check,
        status: failure.status ?? '-',
        ms: Date.now() - started,
        result: `${failure.code}: ${failure.message}`,
        ok: false,
      });
    }
  };
  // Each region's API on its own: the vends below fail over, and would hide one that is down.
  for (const endpoint of endpoints) {
    const label = endpoints.length === 1 ? '' : ` at ${new URL(endpoint).host}`;
    await timed(`unsigned call is refused${label}`, async () => {
      const response = await fetch(`${endpoint.replace(/\/+$/, '')}/v1/providers`);
      await response.body?.cancel();
      return {
        status: response.status,
        result: response.status === 403 ? 'refused' : 'NOT refused',
        ok: response.status === 403,
      };
    });
  }
  let providers: Awaited<ReturnType<TvmClient['listProviders']>> = [];
  await timed('providers', async () => {
    providers = await client.listProviders();
    return { status: 200, result: `${providers.length} this caller may vend`, ok: true };
  });
  for (const entry of providers) {
    await timed(`vend ${entry.id}`, async () => {
      const { token } = await client.vend(entry.id);
      return { status: 200, result: `expires in ${token.expiresIn} s`, ok: true };
    });
  }
  const width = Math.max(...rows.map((row) => row.check.length), 5);
  io.stdout(`${'check'.padEnd(width)}  status  ms      result\n`);
  for (const row of rows) {
    io.stdout(
      `${row.check.padEnd(width)}  ${String(row.status).padEnd(6)}  ${String(row.ms).padEnd(6)}  ${row.ok ? '' : 'FAILED '}${row.result}\n`,
    );
  }
  return rows.every((row) => row.ok) ? 0 : 1;
}

/** `--endpoint` as often as given, else TVM_ENDPOINTS (comma-separated), else TVM_ENDPOINT. */
function endpointList(flags: readonly string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  const listed = (flags?.length ? flags : (env.TVM_ENDPOINTS ?? env.TVM_ENDPOINT ?? '').split(','))
    .map((endpoint) => endpoint.trim())
    .filter((endpoint) => endpoint.length > 0);
  if (listed.length === 0) {
    throw new UsageError('no endpoint: pass --endpoint or set TVM_ENDPOINTS or TVM_ENDPOINT');
  }
  return listed;
}

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
        endpoint: { type: 'string', multiple: true },
        region: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        debug: { type: 'boolean' },
      },
    });
    if (values.version) {
      io.stdout(`${VERSION}\n`);
      return 0;
    }
    const [command, provider, ...extra] = positionals;
    if (values.help || command === undefined || command === 'help') {
      io.stdout(`${USAGE}\n`);
      return values.help || command === 'help' ? 0 : 2;
    }
    if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra[0]}`);
    const endpoints = endpointList(values.endpoint, io.env);
    const bad = endpoints.find((endpoint) => !URL.canParse(endpoint));
    if (bad !== undefined) throw new UsageError(`not a URL: ${bad}`);
    let minTtl: number | undefined;
    if (values['min-ttl'] !== undefined) {
      minTtl = Number(values['min-ttl']);
      if (!Number.isInteger(minTtl) || minTtl < 0)
        throw new UsageError('--min-ttl takes a whole number of seconds');
    }
    const client = new TvmClient({
      ...(endpoints.length === 1 ? { endpoint: endpoints[0] } : { endpoints }),
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
        if (values.raw || minTtl !== undefined) throw new UsageError('evict takes no --raw or --min-ttl');
        // Without --token, the token the service serves this caller now is the one named.
        const rejected = values.token ?? (await client.getToken(provider, selectors)).accessToken;
        const outcome = await client.evict(provider, selectors, rejected);
        io.stdout(`${EVICT_SAID[outcome]}\n`);
        return 0;
      }
      case 'check': {
        if (provider) throw new UsageError(`unexpected argument: ${provider}`);
        return await smokeCheck(client, endpoints, io);
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
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`tvm: usage: ${usageMessage(error as Error & { code?: string })}\n(see tvm --help)\n`);
      return 2;
    }
    io.stderr(`${failureLine(error)}\n`);
    if (argv.includes('--debug')) io.stderr(`${debugDetails(error)}\n`);
    return 1;
  }
}
