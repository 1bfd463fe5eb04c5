import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCallers } from '../../local/local-config';
import { type LocalGateway, startLocalGateway } from '../../local/local-gateway';
import { localWrappingKey } from '../../local/sealing';
import type { CallerKey } from '../../local/sigv4-verifier';
import { signedFetch } from '../support/sigv4-client';

const LONG_TERM: CallerKey = {
  accessKeyId: 'AKIALONGTERMCALLER01',
  secretAccessKey: 'long-term-secret-access-key',
  principalArn: 'arn:aws:iam::111122223333:role/long-term',
};
const TEMPORARY: CallerKey = {
  accessKeyId: 'ASIATEMPORARYCALLER1',
  secretAccessKey: 'temporary-secret-access-key',
  principalArn: 'arn:aws:iam::111122223333:role/temporary',
  sessionToken: 'the-session-token-of-this-caller',
};

/** The local gateway refuses what API Gateway refuses: a session token that is not the caller's. */
describe('Local gateway: session tokens', () => {
  let gateway: LocalGateway;
  let handled = 0;

  beforeAll(async () => {
    gateway = await startLocalGateway({
      handler: async () => {
        handled += 1;
        return { statusCode: 200, body: JSON.stringify({ providers: [] }) };
      },
      callers: [LONG_TERM, TEMPORARY],
      port: 0,
    });
  });

  afterAll(() => gateway.close());

  const list = (
    credentials: CallerKey & { sessionToken?: string },
    tamper?: (headers: Record<string, string>) => void,
  ) =>
    signedFetch({
      method: 'GET',
      url: `${gateway.url}/v1/providers`,
      credentials,
      ...(tamper ? { tamper: (request) => tamper(request.headers) } : {}),
    });

  it('admits the right session token, signed, and long-term keys without one', async () => {
    assert.equal((await list(TEMPORARY)).status, 200);
    assert.equal((await list(LONG_TERM)).status, 200);
  });

  it('refuses a bogus session token, signed or not, a missing one, and one on long-term keys', async () => {
    const before = handled;
    const refusals = [
      await list({ ...TEMPORARY, sessionToken: 'bogus' }),
      await list(TEMPORARY, (headers) => {
        headers['x-amz-security-token'] = 'bogus';
      }),
      await list({ ...TEMPORARY, sessionToken: undefined }),
      await list({ ...LONG_TERM, sessionToken: 'bogus' }),
      await list(LONG_TERM, (headers) => {
        headers['x-amz-security-token'] = 'bogus';
      }),
    ];
    for (const response of refusals) {
      assert.equal(response.status, 403);
      assert.equal(response.json.error, 'access_denied');
      assert.match(String(response.json.message), /security token included in the request is invalid/);
    }
    assert.equal(handled, before, 'nothing reached the handler');
  });

  it('reads a session token from the callers file, and refuses one that is not a string', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvm-callers-'));
    try {
      const file = join(dir, 'callers.json');
      writeFileSync(file, JSON.stringify([TEMPORARY]));
      assert.equal(loadCallers(file)[0]?.sessionToken, TEMPORARY.sessionToken);
      writeFileSync(file, JSON.stringify([{ ...TEMPORARY, sessionToken: 42 }]));
      assert.throws(() => loadCallers(file), /sessionToken/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Local sealing key', () => {
  const configured = process.env.TVM_SEALING_KEY;
  afterEach(() => {
    if (configured === undefined) delete process.env.TVM_SEALING_KEY;
    else process.env.TVM_SEALING_KEY = configured;
  });

  it('is random for the run unless TVM_SEALING_KEY is set, and never the old fixed phrase', () => {
    delete process.env.TVM_SEALING_KEY;
    const key = localWrappingKey();
    assert.equal(key.length, 32);
    assert.deepEqual(localWrappingKey(), key, 'one key for the whole run');
    const fixed = createHash('sha256').update('token-vending local run: not a secret').digest();
    assert.notDeepEqual(key, fixed);
    const chosen = Buffer.alloc(32, 7);
    process.env.TVM_SEALING_KEY = chosen.toString('base64');
    assert.deepEqual(localWrappingKey(), chosen);
  });
});
