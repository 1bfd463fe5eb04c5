import fc from 'fast-check';
import { apiGatewayEvent, contractBreach, startFuzzTarget } from '../local/handler-fuzz';

/**
 * `npm run fuzz [runs]`: random API Gateway events (10,000 by default) into the real handler over a healthy
 * loopback provider. Prints how many answers each status had, and every contract breach with the event
 * that caused it; exits 1 if there was any.
 */
async function main(): Promise<number> {
  const runs = Number(process.argv[2] ?? 10_000);
  const target = await startFuzzTarget();
  const statuses = new Map<string, number>();
  const breaches: string[] = [];
  let unhandled = 0;
  process.on('unhandledRejection', () => {
    unhandled += 1;
  });
  const started = Date.now();
  try {
    await fc.assert(
      fc.asyncProperty(apiGatewayEvent, async (event) => {
        let label: string;
        try {
          const response = await target.handler(event);
          const breach = contractBreach(response);
          const error = response.statusCode >= 400 ? ` ${JSON.parse(response.body).error}` : '';
          label = `${response.statusCode}${error}`;
          if (breach) breaches.push(`${breach}: ${JSON.stringify(event).slice(0, 300)}`);
        } catch (error) {
          label = 'threw';
          breaches.push(`the handler threw ${(error as Error).name}: ${JSON.stringify(event).slice(0, 300)}`);
        }
        statuses.set(label, (statuses.get(label) ?? 0) + 1);
      }),
      { numRuns: runs },
    );
  } finally {
    await target.close();
  }
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(
    `${runs} events in ${seconds.toFixed(1)} s; upstream requests: ${target.provider.requests.length}\n`,
  );
  for (const [label, count] of [...statuses].sort(([a], [b]) => a.localeCompare(b))) {
    process.stdout.write(`  ${label.padEnd(34)} ${count}\n`);
  }
  process.stdout.write(`contract breaches: ${breaches.length}; unhandled rejections: ${unhandled}\n`);
  for (const breach of breaches.slice(0, 20)) process.stdout.write(`  ${breach}\n`);
  return breaches.length + unhandled > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
