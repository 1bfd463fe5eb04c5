import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake token endpoint received, parsed as the provider would parse it. */
export interface RecordedRequest {
  readonly headers: IncomingMessage['headers'];
  readonly contentType: string;
  readonly rawBody: string;
  /** The parameters, from a form or a JSON body. */
  readonly params: Record<string, string>;
}

export type Reply =
  | {
      readonly status: number;
      readonly headers?: Record<string, string>;
      readonly body?: string | object;
      /** Answer only after this long, as a busy provider does. */
      readonly delayMs?: number;
    }
  | { readonly hang: true }
  | { readonly destroy: true }
  /** Answers by hand: bodies that trickle in, never end, or lie about their length. */
  | { readonly raw: (response: ServerResponse) => void | Promise<void> };

export type Behaviour = (request: RecordedRequest, index: number) => Reply | Promise<Reply>;

export interface FakeProvider {
  readonly tokenEndpoint: string;
  readonly requests: RecordedRequest[];
  /** Replies for the next requests, in order; after them the default behaviour answers. */
  enqueue(...replies: Reply[]): void;
  setBehaviour(behaviour: Behaviour): void;
  close(): Promise<void>;
}

/** A token that is a bearer token with the given lifetime. */
export const grant = (accessToken: string, extra: Record<string, unknown> = {}): Reply => ({
  status: 200,
  body: { access_token: accessToken, token_type: 'Bearer', expires_in: 3600, ...extra },
});

/**
 * A token endpoint on loopback that behaves as told: the dialects and faults real providers show (HTML error
 * pages, 429 with Retry-After, hangs), which a standards-following server would never produce.
 */
export async function startFakeProvider(behaviour?: Behaviour): Promise<FakeProvider> {
  const requests: RecordedRequest[] = [];
  const queue: Reply[] = [];
  let current: Behaviour = behaviour ?? ((_request, index) => grant(`fake-token-${index}`));
  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const contentType = request.headers['content-type'] ?? '';
    let params: Record<string, string> = {};
    if (contentType.startsWith('application/json')) {
      try {
        params = JSON.parse(rawBody) as Record<string, string>;
      } catch {
        params = {};
      }
    } else {
      params = Object.fromEntries(new URLSearchParams(rawBody));
    }
    const recorded: RecordedRequest = { headers: request.headers, contentType, rawBody, params };
    requests.push(recorded);
    const reply = queue.shift() ?? (await current(recorded, requests.length));
    if ('hang' in reply) return;
    if ('raw' in reply) {
      await reply.raw(response);
      return;
    }
    if ('destroy' in reply) {
      request.socket.destroy();
      return;
    }
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    const body = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
    response.writeHead(reply.status, {
      'content-type': typeof reply.body === 'string' ? 'text/html' : 'application/json',
      ...reply.headers,
    });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    tokenEndpoint: `http://127.0.0.1:${port}/oauth/token`,
    requests,
    enqueue: (...replies) => queue.push(...replies),
    setBehaviour: (next) => {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
