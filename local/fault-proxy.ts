import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * What the proxy does with the next connection: pass it on, accept it and never answer (a hung dependency),
 * close it at once (a refused or reset one), or answer every HTTP request with `throttleStatus` and an AWS
 * JSON error of `throttleType` (a throttled DynamoDB or KMS).
 */
export type FaultMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'hang' }
  | { readonly kind: 'refuse' }
  | { readonly kind: 'throttle'; readonly errorType: string };

export interface FaultProxy {
  readonly endpoint: string;
  set(mode: FaultMode): void;
  /** Connections accepted so far. */
  connections(): number;
  /** HTTP requests answered with a throttling error so far. */
  throttled(): number;
  close(): Promise<void>;
}

/**
 * A TCP proxy on loopback in front of a real dependency (DynamoDB Local, the loopback KMS) that injects the
 * faults no local part produces on its own: hangs, refusals, throttling. The tests and `scripts/fault-figures.ts`
 * share it; it lives here, beside the other local parts, so that a script never imports from test/.
 */
export async function startFaultProxy(
  target: string,
  initial: FaultMode = { kind: 'pass' },
): Promise<FaultProxy> {
  const { hostname, port } = new URL(target);
  let mode = initial;
  let connections = 0;
  let throttled = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const current = mode;
    if (current.kind === 'hang') return;
    if (current.kind === 'refuse') {
      socket.destroy();
      return;
    }
    if (current.kind === 'throttle') {
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        // One answer per request: headers, then a body of its content-length.
        for (;;) {
          const headerEnd = buffered.indexOf('\r\n\r\n');
          if (headerEnd < 0) return;
          const length = Number(/content-length:\s*(\d+)/i.exec(buffered.slice(0, headerEnd))?.[1] ?? 0);
          if (buffered.length < headerEnd + 4 + length) return;
          buffered = buffered.slice(headerEnd + 4 + length);
          throttled += 1;
          const body = JSON.stringify({ __type: current.errorType, message: 'Rate exceeded' });
          socket.write(
            `HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-errortype: ${current.errorType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
          );
        }
      });
      return;
    }
    const upstream = connect(Number(port), hostname);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    set: (next) => {
      mode = next;
      // A mode applies to connections already open too: a pooled keep-alive socket must not slip past it.
      for (const socket of sockets) socket.destroy();
    },
    connections: () => connections,
    throttled: () => throttled,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
